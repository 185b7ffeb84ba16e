# Number formatting and the small building blocks every page shares. Every number shown
# carries its raw value in a data-value attribute, so tests (and analysts copying a value)
# read the exact figure rather than a rounded label.

fmt_int <- function(x) {
  ifelse(is.na(x), "\u2013", formatC(round(as.numeric(x)), format = "d", big.mark = ","))
}

fmt_pct <- function(x, digits = 1) {
  ifelse(is.na(x), "\u2013", paste0(formatC(100 * as.numeric(x), format = "f", digits = digits), "%"))
}

fmt_money <- function(x) {
  ifelse(is.na(x), "\u2013", paste0("$", formatC(as.numeric(x), format = "f", digits = 2, big.mark = ",")))
}

fmt_num <- function(x, digits = 1) {
  ifelse(is.na(x), "\u2013", formatC(as.numeric(x), format = "f", digits = digits, big.mark = ","))
}

fmt_duration <- function(seconds) {
  s <- as.numeric(seconds)
  ifelse(is.na(s), "\u2013",
         ifelse(s < 60, sprintf("%.0f s", s),
                ifelse(s < 3600, sprintf("%d min %02d s", as.integer(s %/% 60), as.integer(round(s %% 60))),
                       sprintf("%d h %02d min", as.integer(s %/% 3600), as.integer((s %% 3600) %/% 60)))))
}

fmt_time <- function(x) {
  ifelse(is.na(x), "\u2013", format(as.POSIXct(x, tz = "UTC"), "%Y-%m-%d %H:%M UTC"))
}

raw_value <- function(x) {
  if (length(x) == 0 || is.na(x)) "" else if (is.numeric(x)) format(x, scientific = FALSE, digits = 15, trim = TRUE) else as.character(x)
}

# The value inside a value box: formatted text, raw number in data-value.
kpi_value <- function(value, formatter = fmt_int, note = NULL) {
  tagList(
    tags$span(class = "kpi-value", `data-value` = raw_value(value), formatter(value)),
    if (!is.null(note)) tags$div(class = "kpi-note", note)
  )
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

# Shared plotly look: no mode bar clutter, readable axes, UTC in hover labels.
dash_plot <- function(p, y_title = NULL, x_title = NULL, y_format = ",d") {
  p |>
    plotly::layout(
      xaxis = list(title = x_title, gridcolor = "#eef0f3"),
      yaxis = list(title = y_title, tickformat = y_format, gridcolor = "#eef0f3", rangemode = "tozero"),
      legend = list(orientation = "h", y = -0.2),
      margin = list(l = 60, r = 20, t = 10, b = 40),
      hovermode = "x unified",
      font = list(family = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size = 12),
      paper_bgcolor = "rgba(0,0,0,0)", plot_bgcolor = "rgba(0,0,0,0)"
    ) |>
    plotly::config(displaylogo = FALSE, modeBarButtonsToRemove = c("lasso2d", "select2d", "autoScale2d"))
}

PALETTE <- c(primary = "#2563eb", teal = "#0d9488", amber = "#d97706", rose = "#e11d48", slate = "#475569",
             violet = "#7c3aed")
