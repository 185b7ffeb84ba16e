# Numbers and times formatted for people ("1,234", "21.4%", "$8,254.90", "2 min 15 s"), and the
# raw value a page keeps next to each (raw_value) so tests and analysts read the exact figure.

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

# What a visitor count is: "distinct browsers, exact", or, for an approximate (sketched) count,
# "distinct browsers, approximate (±0.6%)" with its relative error. v: a dashboard.visitors() row.
visitor_note <- function(v) {
  if (isTRUE(as.logical(v$approximate))) {
    paste0("distinct browsers, approximate (\u00b1", fmt_pct(as.numeric(v$relative_error)), ")")
  } else {
    "distinct browsers, exact"
  }
}
