# Comparisons with the previous period and their uncertainty, and tables downloaded as shown.
#
# A figure's change is against the period of the same length just before the chosen range. A
# conversion rate carries its Wilson 95 % interval; a change of a rate whose interval overlaps
# the previous period's is labelled "not significant". Non-overlap of two 95 % intervals is a
# conservative test (stricter than 5 %): a change it calls significant is; some real changes of
# small samples are labelled not significant.
#
# htmltools and shiny with namespace prefixes: sourced without attaching shiny by the testthat
# runner. The formatters (fmt_int, fmt_pct, ...) and raw_value() are the app's shared ones.

# ---- periods ------------------------------------------------------------------------------------

# The period of the same length immediately before [from, to] (UTC days, inclusive).
previous_period <- function(from, to) {
  from <- period_day(from, "from")
  to <- period_day(to, "to")
  if (from > to) stop("previous_period: from (", format(from), ") is after to (", format(to), ")", call. = FALSE)
  days <- as.integer(to - from) + 1L
  list(from = from - days, to = from - 1L)
}

period_day <- function(x, what) {
  if (length(x) != 1) stop("previous_period: ", what, " must be one date", call. = FALSE)
  day <- if (inherits(x, "Date")) x else tryCatch(as.Date(x, format = "%Y-%m-%d"), error = function(e) as.Date(NA))
  if (is.na(day)) stop("previous_period: ", what, " must be a date (YYYY-MM-DD), got ", format(x), call. = FALSE)
  day
}

# ---- changes ------------------------------------------------------------------------------------

CHANGE_KINDS <- c("relative", "points")

# The change from previous to current, vectorised. kind "relative": (current - previous) /
# |previous| (a share: 0.125 is +12.5 %); "points": current - previous, for rates (0.012 is
# +1.2 percentage points). direction: up, down, flat, new (from zero), none (no previous figure)
# or NA (no current figure); change is NA where there is no finite ratio.
period_change <- function(current, previous, kind = "relative") {
  if (!kind %in% CHANGE_KINDS) {
    stop("period_change: kind must be one of ", paste(CHANGE_KINDS, collapse = ", "), ", got ", kind, call. = FALSE)
  }
  current <- as_figure(current)
  previous <- as_figure(previous)
  n <- max(length(current), length(previous))
  current <- rep_len(current, n)
  previous <- rep_len(previous, n)
  diff <- current - previous
  direction <- ifelse(is.na(current), NA_character_,
               ifelse(is.na(previous), "none",
               ifelse(diff == 0, "flat",
               ifelse(kind == "relative" & previous == 0, "new",
               ifelse(diff > 0, "up", "down")))))
  change <- if (kind == "points") diff else ifelse(previous == 0, ifelse(diff == 0, 0, NA_real_), diff / abs(previous))
  change[is.na(direction) | direction %in% c("none", "new")] <- NA_real_
  data.frame(direction = direction, change = change, stringsAsFactors = FALSE)
}

as_figure <- function(x) {
  if (is.null(x) || length(x) == 0) return(NA_real_)
  x <- suppressWarnings(as.numeric(x))
  x[!is.finite(x)] <- NA_real_
  x
}

CHANGE_ARROWS <- c(up = "\u25b2", down = "\u25bc", flat = "=")

# The change as people read it: "▲ 12.5%", "▼ 3.0%", "= 0.0%", "▲ 1.2 pp" (points),
# "▲ from zero", "no previous data", or "–" without a current figure.
fmt_change <- function(current, previous, kind = "relative", digits = 1) {
  ch <- period_change(current, previous, kind)
  amount <- if (kind == "points") {
    paste(formatC(100 * abs(ch$change), format = "f", digits = digits), "pp")
  } else {
    paste0(formatC(100 * abs(ch$change), format = "f", digits = digits, big.mark = ","), "%")
  }
  ifelse(is.na(ch$direction), "\u2013",
  ifelse(ch$direction == "none", "no previous data",
  ifelse(ch$direction == "new", paste(CHANGE_ARROWS[["up"]], "from zero"),
         paste(CHANGE_ARROWS[ch$direction], amount))))
}

# ---- uncertainty of a rate ----------------------------------------------------------------------

# Wilson score interval of successes / trials (vectorised); NA for no trials. Unlike the normal
# approximation it stays within [0, 1] and is honest for small counts and rates near 0 or 1.
wilson_interval <- function(successes, trials, level = 0.95) {
  if (!is.numeric(level) || length(level) != 1 || level <= 0 || level >= 1) {
    stop("wilson_interval: level must be between 0 and 1, got ", format(level), call. = FALSE)
  }
  s <- as.numeric(successes)
  n <- as.numeric(trials)
  bad <- !is.na(s) & !is.na(n) & (s < 0 | n < 0 | s > n)
  if (any(bad)) {
    i <- which(bad)[1]
    stop("wilson_interval: successes must be between 0 and trials, got ", s[i], " of ", n[i], call. = FALSE)
  }
  z <- stats::qnorm(1 - (1 - level) / 2)
  ok <- !is.na(s) & !is.na(n) & n > 0
  p <- ifelse(ok, s / n, NA_real_)
  n[!ok] <- NA_real_
  denom <- 1 + z^2 / n
  centre <- (p + z^2 / (2 * n)) / denom
  half <- z * sqrt(p * (1 - p) / n + z^2 / (4 * n^2)) / denom
  data.frame(rate = p, low = pmax(0, centre - half), high = pmin(1, centre + half))
}

# Whether two intervals share any value (vectorised); NA when either is unknown.
intervals_overlap <- function(low_a, high_a, low_b, high_b) low_a <= high_b & low_b <= high_a

# A rate now and in the previous period, with both intervals and whether the change is
# significant (the intervals do not overlap). NA significance without a previous rate.
rate_comparison <- function(successes, trials, previous_successes = NULL, previous_trials = NULL, level = 0.95) {
  now <- wilson_interval(successes, trials, level)
  before <- wilson_interval(as_figure(previous_successes), as_figure(previous_trials), level)
  data.frame(rate = now$rate, low = now$low, high = now$high,
             previous_rate = before$rate, previous_low = before$low, previous_high = before$high,
             significant = !intervals_overlap(now$low, now$high, before$low, before$high))
}

fmt_interval <- function(low, high, digits = 1) {
  ifelse(is.na(low) | is.na(high), "\u2013",
         paste0(formatC(100 * low, format = "f", digits = digits), "\u2013",
                formatC(100 * high, format = "f", digits = digits), "%"))
}

# ---- KPI values with their change ---------------------------------------------------------------

# The inside of a value box: the figure (raw value in data-value, like kpi_value()) and, when
# comparing, its change on the previous period. higher_is_better FALSE for figures such as
# bounce rate, so that a rise is marked as bad.
kpi_change_value <- function(value, previous = NULL, formatter = fmt_int, kind = "relative",
                             higher_is_better = TRUE, note = NULL, compare = TRUE) {
  htmltools::tagList(
    htmltools::tags$span(class = "kpi-value", `data-value` = raw_value(value), formatter(value)),
    if (compare) kpi_change_line(value, previous, formatter, kind, higher_is_better),
    if (!is.null(note)) htmltools::tags$div(class = "kpi-note", note),
    compare_dependency()
  )
}

# A rate (successes / trials) with its Wilson 95 % interval and, when comparing, its change in
# percentage points, labelled "not significant" when the two periods' intervals overlap.
kpi_rate_value <- function(successes, trials, previous_successes = NULL, previous_trials = NULL,
                           higher_is_better = TRUE, note = NULL, compare = TRUE) {
  cmp <- rate_comparison(as_figure(successes), as_figure(trials), previous_successes, previous_trials)
  change <- if (compare) kpi_change_line(cmp$rate, cmp$previous_rate, fmt_pct, "points", higher_is_better,
                                         significant = cmp$significant)
  htmltools::tagList(
    htmltools::tags$span(class = "kpi-value", `data-value` = raw_value(cmp$rate), fmt_pct(cmp$rate)),
    htmltools::tags$div(class = "kpi-interval", `data-low` = raw_value(cmp$low), `data-high` = raw_value(cmp$high),
                        title = "95% Wilson interval", paste("95% CI", fmt_interval(cmp$low, cmp$high))),
    change,
    if (!is.null(note)) htmltools::tags$div(class = "kpi-note", note),
    compare_dependency()
  )
}

compare_dependency <- function() app_asset_dependency("clickstream-compare", stylesheet = "compare.css")

kpi_change_line <- function(value, previous, formatter, kind, higher_is_better, significant = NA) {
  ch <- period_change(value, previous, kind)
  direction <- ch$direction
  tone <- if (is.na(direction) || !direction %in% c("up", "down", "new")) {
    "neutral"
  } else if ((direction != "down") == isTRUE(higher_is_better)) {
    "good"
  } else {
    "bad"
  }
  not_significant <- isFALSE(significant)
  htmltools::tags$div(
    class = paste(c("kpi-change", paste0("change-", if (is.na(direction)) "none" else direction),
                    paste0("tone-", tone), if (not_significant) "not-significant"), collapse = " "),
    `data-direction` = if (is.na(direction)) "" else direction,
    `data-value` = raw_value(ch$change),
    `data-significant` = if (is.na(significant)) "" else tolower(format(significant)),
    title = paste("previous period:", formatter(as_figure(previous)[1])),
    htmltools::tags$span(class = "kpi-change-amount", fmt_change(value, previous, kind)),
    if (!is.na(direction) && direction != "none") htmltools::tags$span(class = "kpi-change-basis", "vs previous period"),
    if (not_significant) htmltools::tags$span(class = "kpi-significance", "not significant")
  )
}

# ---- tables as CSV ------------------------------------------------------------------------------

# A data frame as the screen shows it: each column through its formatter, headed by its label.
# columns: the same spec as data_table(): list(name = col(label, fmt)).
table_as_shown <- function(df, columns) {
  missing_cols <- setdiff(names(columns), names(df))
  if (length(missing_cols)) stop("table_as_shown: no column ", paste(missing_cols, collapse = ", "), call. = FALSE)
  shown <- lapply(names(columns), function(name) as.character(columns[[name]]$fmt(df[[name]])))
  shown <- as.data.frame(shown, stringsAsFactors = FALSE, col.names = paste0("c", seq_along(columns)))
  names(shown) <- vapply(columns, function(spec) spec$label, character(1))
  shown
}

# Writes table_as_shown() as UTF-8 CSV, with a byte order mark so that spreadsheet programs
# read the dashes, arrows and currency signs right.
write_csv_as_shown <- function(df, columns, path) {
  out <- file(path, open = "w", encoding = "UTF-8")
  on.exit(close(out))
  cat("\ufeff", file = out)
  utils::write.csv(table_as_shown(df, columns), out, row.names = FALSE, na = "")
}

# The button (UI) and the handler (server) of one table's CSV download, e.g.
#   ui:     csv_download_button(ns("channels_csv"))
#   server: output$channels_csv <- csv_download(channels, CHANNEL_COLUMNS, "channels")
# data: a reactive (or function) returning the data frame the table shows; filename: text or a
# function returning it (".csv" is added).
csv_download_button <- function(id, label = "CSV") {
  htmltools::attachDependencies(
    shiny::downloadButton(id, label, class = "btn-sm btn-outline-secondary csv-download",
                          title = "Download this table as CSV", icon = shiny::icon("download")),
    compare_dependency(), append = TRUE)
}

csv_download <- function(data, columns, filename) {
  shiny::downloadHandler(
    filename = function() {
      name <- if (is.function(filename)) filename() else filename
      if (grepl("\\.csv$", name)) name else paste0(name, ".csv")
    },
    content = function(file) write_csv_as_shown(data(), columns, file),
    contentType = "text/csv; charset=utf-8"
  )
}
