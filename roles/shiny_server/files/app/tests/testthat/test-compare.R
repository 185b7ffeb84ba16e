# The comparison helpers (R/compare.R): pure functions, no warehouse needed.

test_that("the Wilson interval matches published values and stays within [0, 1]", {
  w <- wilson_interval(5, 20)
  expect_equal(w$rate, 0.25)
  expect_equal(c(w$low, w$high), c(0.1119, 0.4687), tolerance = 1e-4)
  # Newcombe (1998), table I: 0/10 and 10/10.
  expect_equal(wilson_interval(0, 10)$low, 0)
  expect_equal(wilson_interval(0, 10)$high, 0.2775, tolerance = 1e-4)
  expect_equal(wilson_interval(10, 10)$low, 0.7225, tolerance = 1e-4)
  expect_equal(wilson_interval(10, 10)$high, 1)
  expect_equal(c(wilson_interval(81, 263)$low, wilson_interval(81, 263)$high), c(0.2553, 0.3662), tolerance = 1e-4)
  v <- wilson_interval(c(5, 0, NA), c(20, 0, 10))
  expect_equal(nrow(v), 3)
  expect_true(all(is.na(v[2:3, ])))
  expect_error(wilson_interval(21, 20), "between 0 and trials, got 21 of 20")
  expect_error(wilson_interval(-1, 20), "between 0 and trials")
  expect_error(wilson_interval(1, 2, level = 95), "level must be between 0 and 1")
})

test_that("two rates differ significantly only when their intervals do not overlap", {
  expect_true(intervals_overlap(0.1, 0.3, 0.3, 0.5))
  expect_false(intervals_overlap(0.1, 0.2, 0.3, 0.5))
  expect_false(intervals_overlap(0.3, 0.5, 0.1, 0.2))
  expect_true(is.na(intervals_overlap(0.1, 0.2, NA, NA)))
  expect_true(rate_comparison(50, 100, 20, 100)$significant)
  expect_false(rate_comparison(5, 20, 4, 20)$significant)
  expect_true(is.na(rate_comparison(5, 20)$significant))
  expect_true(is.na(rate_comparison(5, 20, 0, 0)$significant))
})

test_that("the previous period has the same length and ends the day before", {
  expect_equal(previous_period("2026-03-01", "2026-03-07"), list(from = as.Date("2026-02-22"), to = as.Date("2026-02-28")))
  expect_equal(previous_period(as.Date("2026-03-04"), as.Date("2026-03-04")),
               list(from = as.Date("2026-03-03"), to = as.Date("2026-03-03")))
  # 31 days of March 2024 against the 31 days before, through a leap day.
  expect_equal(previous_period("2024-03-01", "2024-03-31"), list(from = as.Date("2024-01-30"), to = as.Date("2024-02-29")))
  expect_error(previous_period("2026-03-07", "2026-03-01"), "from \\(2026-03-07\\) is after to \\(2026-03-01\\)")
  expect_error(previous_period("yesterday", "2026-03-01"), "from must be a date")
  expect_error(previous_period(c("2026-03-01", "2026-03-02"), "2026-03-03"), "from must be one date")
})

test_that("changes read as arrow and percent, and survive missing and zero figures", {
  expect_equal(fmt_change(1125, 1000), "\u25b2 12.5%")
  expect_equal(fmt_change(970, 1000), "\u25bc 3.0%")
  expect_equal(fmt_change(100, 100), "= 0.0%")
  expect_equal(fmt_change(0, 0), "= 0.0%")
  expect_equal(fmt_change(5, 0), "\u25b2 from zero")
  expect_equal(fmt_change(5, NULL), "no previous data")
  expect_equal(fmt_change(5, NA), "no previous data")
  expect_equal(fmt_change(NA, 5), "\u2013")
  expect_equal(fmt_change(NULL, 5), "\u2013")
  expect_equal(fmt_change(24000, 1000), "\u25b2 2,300.0%")
  expect_equal(fmt_change(-50, -100), "\u25b2 50.0%")  # a smaller loss is a rise
  expect_equal(fmt_change(0.25, 0.238, kind = "points"), "\u25b2 1.2 pp")
  expect_equal(fmt_change(0.2, 0.25, kind = "points"), "\u25bc 5.0 pp")
  expect_equal(fmt_change(c(2, 1, 3), c(1, 1, 0)), c("\u25b2 100.0%", "= 0.0%", "\u25b2 from zero"))
  ch <- period_change(c(1125, 5, 5, NA), c(1000, 0, NA, 1))
  expect_equal(ch$direction, c("up", "new", "none", NA))
  expect_equal(ch$change, c(0.125, NA, NA, NA))
  expect_error(period_change(1, 2, kind = "percent"), "kind must be one of relative, points")
})

test_that("a value box shows the figure, its change and, for a rate, its interval", {
  withr::local_options(clickstream.app_dir = normalizePath(file.path("..", "..")))
  html <- as.character(kpi_change_value(1125, 1000))
  expect_match(html, 'class="kpi-value" data-value="1125">1,125<')
  expect_match(html, 'data-direction="up" data-value="0.125"')
  expect_match(html, "tone-good")
  expect_match(html, "\u25b2 12.5%")
  expect_match(as.character(kpi_change_value(0.41, 0.39, fmt_pct, kind = "points", higher_is_better = FALSE)),
               "tone-bad")
  expect_false(grepl("kpi-change", as.character(kpi_change_value(1125, 1000, compare = FALSE))))

  rate <- as.character(kpi_rate_value(5, 20, 4, 20))
  expect_match(rate, 'data-value="0.25">25.0%<')
  expect_match(rate, "95% CI 11.2\u201346.9%")
  expect_match(rate, 'data-significant="false"')
  expect_match(rate, "not significant")
  strong <- as.character(kpi_rate_value(50, 100, 20, 100))
  expect_match(strong, 'data-significant="true"')
  expect_false(grepl("not significant", strong))
  alone <- as.character(kpi_rate_value(5, 20))
  expect_match(alone, "no previous data")
  expect_false(grepl("not significant", alone))
})

test_that("a table downloads as CSV exactly as shown", {
  withr::local_options(clickstream.app_dir = normalizePath(file.path("..", "..")))
  df <- data.frame(channel = c("Direct", "Email"), sessions = c(12840, NA), rate = c(0.0342, 0.05),
                   revenue = c(48211.4, 0))
  columns <- list(channel = col("Channel"), sessions = col("Sessions", fmt_int), rate = col("Conversion", fmt_pct),
                  revenue = col("Revenue", fmt_money))
  shown <- table_as_shown(df, columns)
  expect_equal(names(shown), c("Channel", "Sessions", "Conversion", "Revenue"))
  expect_equal(shown$Sessions, c("12,840", "\u2013"))
  path <- withr::local_tempfile(fileext = ".csv")
  write_csv_as_shown(df, columns, path)
  expect_equal(readBin(path, "raw", 3), as.raw(c(0xef, 0xbb, 0xbf)))
  back <- utils::read.csv(path, fileEncoding = "UTF-8-BOM", check.names = FALSE, colClasses = "character")
  expect_equal(back, shown)
  expect_equal(readLines(path, encoding = "UTF-8")[2], '"Direct","12,840","3.4%","$48,211.40"')
  expect_error(table_as_shown(df, list(visitors = col("Visitors", fmt_int))), "no column visitors")
  expect_match(as.character(csv_download_button("x_csv")), 'id="x_csv"')
})
