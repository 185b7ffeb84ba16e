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
                       ifelse(s < 172800,
                              sprintf("%d h %02d min", as.integer(s %/% 3600), as.integer((s %% 3600) %/% 60)),
                              sprintf("%d d %d h", as.integer(s %/% 86400), as.integer((s %% 86400) %/% 3600))))))
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

label_int <- function(x) fmt_int(x)
label_pct <- function(x) fmt_pct(x, 0)
label_money <- function(x) fmt_money(x)

# Long format for several series over one x: data.frame(x, series, value).
long_series <- function(df, x, series) {
  do.call(rbind, lapply(names(series), function(col) {
    data.frame(x = df[[x]], series = factor(series[[col]], levels = unname(series)), value = as.numeric(df[[col]]))
  }))
}

PALETTE <- c(primary = "#2563eb", teal = "#0d9488", amber = "#d97706", rose = "#e11d48", slate = "#475569",
             violet = "#7c3aed")
