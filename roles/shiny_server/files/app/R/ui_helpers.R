# The building blocks every page is made of: the filter bar, value boxes, tables, empty states
# and the charts' shared look. Every number shown carries its raw value in a data-value
# attribute (raw_value, format.R), which is what the browser tests read.

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

# --- charts -----------------------------------------------------------------------------------

PALETTE <- c(primary = "#2563eb", teal = "#0d9488", amber = "#d97706", rose = "#e11d48", slate = "#475569",
             violet = "#7c3aed")

# Shared chart look (ggplot2, drawn server-side: Debian 12's r-cran-plotly bundles a plotly.js
# too old for its R code, so interactive plotly charts fail in the browser).
theme_dash <- function() {
  ggplot2::theme_minimal(base_size = 13, base_family = "sans") +
    ggplot2::theme(
      panel.grid.minor = ggplot2::element_blank(),
      panel.grid.major.x = ggplot2::element_blank(),
      panel.grid.major.y = ggplot2::element_line(colour = "#e5e7eb"),
      legend.position = "top", legend.justification = "left", legend.title = ggplot2::element_blank(),
      axis.title = ggplot2::element_text(colour = "#64748b", size = 11),
      axis.text = ggplot2::element_text(colour = "#334155"),
      plot.margin = ggplot2::margin(6, 12, 6, 6)
    )
}

# Long format for several series over one x: data.frame(x, series, value).
long_series <- function(df, x, series) {
  do.call(rbind, lapply(names(series), function(col) {
    data.frame(x = df[[x]], series = factor(series[[col]], levels = unname(series)), value = as.numeric(df[[col]]))
  }))
}

# Horizontal bars, the first label at the top, each bar's text just past its end. `labels` is a
# factor whose levels run bottom to top; `headroom` is the space left right of the longest bar
# (a share of it) for its text.
hbar_chart <- function(labels, values, texts, fill, value_labels, value_title,
                       text_size = 3.8, text_hjust = -0.08, headroom = 0.3) {
  df <- data.frame(label = labels, value = values, text = texts)
  ggplot2::ggplot(df, ggplot2::aes(label, value)) +
    ggplot2::geom_col(fill = fill, width = 0.7) +
    ggplot2::geom_text(ggplot2::aes(label = text), hjust = text_hjust, colour = "#334155", size = text_size) +
    ggplot2::coord_flip(clip = "off") +
    ggplot2::scale_y_continuous(labels = value_labels, expand = ggplot2::expansion(mult = c(0, headroom))) +
    ggplot2::labs(x = NULL, y = value_title) +
    theme_dash()
}
