# The building blocks every page is made of: the filter bar, the page filters, value boxes,
# tables and empty states (the charts are R/charts.R's). Every number shown carries its raw
# value in a data-value attribute (raw_value, format.R), which is what the browser tests read.

# --- page layout ------------------------------------------------------------------------------

# What the page counts, and the page's own filters (the date range is the shared one in the
# bar under the navbar, app.R).
filter_bar <- function(description, ...) {
  card(class = "filter-bar",
       tags$div(class = "filter-row",
                tags$div(class = "filter-description", description),
                tags$div(class = "filter-inputs", ...)))
}

# The value inside a value box: formatted text, raw number in data-value.
kpi_value <- function(value, formatter = fmt_int, note = NULL) {
  tagList(
    tags$span(class = "kpi-value", `data-value` = raw_value(value), formatter(value)),
    if (!is.null(note)) tags$div(class = "kpi-note", note)
  )
}

# Booked revenue as a headline, with the tracked revenue beside it (raw value in .kpi-tracked)
# and, when comparing, its change on the previous period's booked revenue.
booked_revenue_value <- function(booked, tracked, orders, previous = NULL, compare = FALSE) {
  kpi_change_value(booked, previous, fmt_money, compare = compare,
                   note = tagList("tracked ", tags$span(class = "kpi-tracked", `data-value` = raw_value(tracked),
                                                        fmt_money(tracked)),
                                  paste0(" \u00b7 ", fmt_int(orders), " orders")))
}

# A select whose choices the server fills from the data (a category, a channel), opening on the
# link's value: it is offered until the choices arrive, then kept only if they hold it.
url_select <- function(id, label, selected = NULL, width = NULL) {
  choices <- unique(c(ALL_CHOICE, selected))
  selectInput(id, label, choices = choices, selected = if (is.null(selected)) ALL_CHOICE else selected,
              width = width, selectize = FALSE)
}

# The page filters channel, device type and country (R/db.R, SEGMENT_FILTERS) as selects, each
# opening on the link's value; segment_filter_server() fills their choices and returns them.
segment_filter_inputs <- function(ns, state, page) {
  lapply(names(SEGMENT_FILTERS), function(k) {
    url_select(ns(k), SEGMENT_FILTERS[[k]], url_filter(state, page, k), width = "170px")
  })
}

# Inside a page's moduleServer: fills the three selects with the range's values (a value no longer
# offered falls back to every one) and returns the segment as a reactive list(channel =,
# device_type =, country =), NULL for every value. A click on a bar of a breakdown calls
# toggle(filter, value): that filter becomes the value, or every one when it already was.
segment_filter_server <- function(input, session, db, range) {
  values <- reactive(q_segment_filters(db, range()[1], range()[2]))
  observeEvent(values(), {
    for (k in names(SEGMENT_FILTERS)) {
      choices <- c(ALL_CHOICE, values()$value[values()$filter == k])
      keep <- if (!is.null(input[[k]]) && input[[k]] %in% choices) input[[k]] else ALL_CHOICE
      updateSelectInput(session, k, choices = choices, selected = keep)
    }
  })
  segment <- reactive({
    picked <- lapply(names(SEGMENT_FILTERS), function(k) {
      v <- input[[k]]
      if (is.null(v) || !nzchar(v) || identical(v, ALL_CHOICE)) NULL else v
    })
    names(picked) <- names(SEGMENT_FILTERS)
    picked
  })
  toggle <- function(filter, value) {
    updateSelectInput(session, filter, selected = if (identical(input[[filter]], value)) ALL_CHOICE else value)
  }
  list(segment = segment, toggle = toggle, filtered = reactive(segment_filtered(segment())))
}

# What a filtered page says it shows: "Channel Email · Device type mobile", or NULL.
segment_label <- function(segment) {
  set <- Filter(Negate(is.null), segment)
  if (length(set) == 0) return(NULL)
  paste(vapply(names(set), function(k) paste(SEGMENT_FILTERS[[k]], set[[k]]), character(1)), collapse = " \u00b7 ")
}

kpi_box <- function(title, output_id, icon_name, theme_color = "primary") {
  bslib::value_box(
    title = title,
    value = uiOutput(output_id, inline = FALSE),
    showcase = icon(icon_name),
    theme_color = theme_color
  )
}

# What a card shows when the query returned nothing for the chosen filters.
empty_state <- function(message, hint = "Widen the date range or clear the filters.") {
  tags$div(class = "empty-state",
           tags$div(class = "empty-state-title", message),
           tags$div(class = "empty-state-hint", hint))
}

# A plain HTML table whose cells carry their raw values; columns: list(name = list(label, fmt)).
data_table <- function(df, columns, id = NULL, class = "table table-sm table-hover dash-table") {
  header <- tags$tr(lapply(names(columns), function(col) {
    spec <- columns[[col]]
    tags$th(class = if (!identical(spec$fmt, as.character)) "num", spec$label)
  }))
  rows <- lapply(seq_len(nrow(df)), function(i) {
    tags$tr(lapply(names(columns), function(col) {
      spec <- columns[[col]]
      v <- df[[col]][i]
      tags$td(class = paste(col, if (!identical(spec$fmt, as.character)) "num"),
              `data-value` = raw_value(v), spec$fmt(v))
    }))
  })
  tags$table(id = id, class = class, tags$thead(header), tags$tbody(rows))
}

col <- function(label, fmt = as.character) list(label = label, fmt = fmt)
