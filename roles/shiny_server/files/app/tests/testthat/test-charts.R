# The chart specs (R/charts.R): what the browser is sent, and the checks on what a page passes.
# How the browser draws them is tests/dashboard/test_charts.py.

spec_of <- function(chart) jsonlite::fromJSON(chart_json(chart), simplifyVector = FALSE)
APP <- normalizePath(file.path("..", ".."))

test_that("units are checked and get their usual decimals", {
  expect_equal(chart_unit("money", "revenue (USD)")$digits, 2L)
  expect_equal(chart_unit("percent")$digits, 1L)
  expect_equal(chart_unit("count", "sessions", "sessions"),
               list(type = "count", axis = "sessions", suffix = "sessions", digits = 0L))
  expect_error(chart_unit("euros"), "type must be one of count, money, percent, number, got euros")
  expect_error(chart_unit("number", digits = 9), "digits must be 0-6")
})

test_that("a time series is sent as UTC milliseconds and one array per series, in time order", {
  days <- as.Date(c("2026-03-02", "2026-03-01"))
  s <- spec_of(chart_timeseries(days, list(Events = c(4, 3), Sessions = c(2, NA)), chart_unit("count", "per day")))
  expect_equal(s$kind, "timeseries")
  expect_equal(unlist(s$time), c(1772323200000, 1772409600000))
  expect_equal(s$series[[1]]$name, "Events")
  expect_equal(unlist(s$series[[1]]$values), c(3, 4))
  expect_equal(s$series[[2]]$values, list(NULL, 2))  # NA is a gap (null)
  expect_equal(s$x_label, "day (UTC)")
  expect_equal(c(s$series[[1]]$suffix, s$series[[2]]$suffix), c("", ""))  # unit$suffix
  # Series that count different things: each its own word in the tooltip.
  own <- spec_of(chart_timeseries(days, list(Events = c(4, 3), Users = c(2, 1)), chart_unit("count", "per day", "events"),
                                  suffixes = c(Users = "distinct browsers")))
  expect_equal(c(own$series[[1]]$suffix, own$series[[2]]$suffix), c("events", "distinct browsers"))
  expect_error(chart_timeseries(days, list(Events = c(4, 3)), suffixes = c(Visits = "visits")),
               "suffixes for no series: Visits")
  expect_error(chart_timeseries(days, list(Events = c(4, 3)), suffixes = "events"), "named character vector")
  hour <- as.POSIXct("2026-03-01 10:00", tz = "UTC")
  one <- spec_of(chart_timeseries(hour, list(Events = 7), grain = "hour"))
  expect_equal(one$series[[1]]$values, list(7))  # a one-point series stays an array
  expect_equal(one$time, list(1772359200000))
  expect_equal(spec_of(chart_timeseries(days, list(Events = c(0, 0))))$kind, "empty")
  expect_error(chart_timeseries(c("2026-03-01"), list(Events = 1)), "time must be Date or POSIXct, got character")
  expect_error(chart_timeseries(days, list(c(1, 2))), "every series needs a name")
  expect_error(chart_timeseries(days, list(Events = 1)), "Events has 1 values for 2 points")
  expect_error(chart_timeseries(days, list(Events = c("1", "2"))), "Events must be numeric, got character")
})

test_that("bars carry their categories, whether a click filters, and the chosen category", {
  s <- spec_of(chart_bars(c("Direct", "Email"), c(10, 3), chart_unit("count", "sessions", "sessions"),
                          horizontal = TRUE, selected = "Email"))
  expect_equal(unlist(s$categories), c("Direct", "Email"))
  expect_true(s$horizontal)
  expect_true(s$clickable)
  expect_equal(s$selected, "Email")
  expect_equal(s$series[[1]]$name, "sessions")
  expect_null(spec_of(chart_bars("Direct", 1, selected = NULL))$selected)
  expect_null(spec_of(chart_bars("Direct", 1, selected = ""))$selected)
  grouped <- spec_of(chart_bars(c("a", "b"), list(Now = c(1, 2), Before = c(2, 1))))
  expect_equal(vapply(grouped$series, `[[`, "", "name"), c("Now", "Before"))
  empty <- spec_of(chart_bars(character(), numeric(), empty = "No referrers."))
  expect_equal(empty[c("kind", "message")], list(kind = "empty", message = "No referrers."))
  expect_error(chart_bars(c("a", NA), c(1, 2)), "categories has missing values")
  expect_error(chart_bars(c("a", "b"), 1), "values has 1 values for 2 points")
})

test_that("a funnel carries each step's share of the first step and of the step before", {
  s <- spec_of(chart_funnel(c("View", "Cart", "Buy"), c(200, 50, 10)))
  expect_equal(unlist(s$share_of_first), c(1, 0.25, 0.05))
  expect_equal(s$share_of_previous, list(NULL, 0.25, 0.2))
  z <- spec_of(chart_funnel(c("View", "Cart"), c(0, 0)))
  expect_equal(z$kind, "empty")
  zero_first <- spec_of(chart_funnel(c("View", "Cart"), c(0, 3)))
  expect_equal(zero_first$share_of_first, list(NULL, NULL))
})

test_that("a heatmap is sent as [column, row, value, count] cells, with each row's total", {
  s <- spec_of(chart_heatmap(row = c("w1", "w1", "w2", "w2"), column = c("0", "1", "0", "1"),
                             value = c(1, 0.5, 1, NA), count = c(10, 5, 8, NA), row_total = c(10, 10, 8, 8)))
  expect_equal(unlist(s$rows), c("w1", "w2"))
  expect_equal(unlist(s$columns), c("0", "1"))
  expect_equal(s$cells, list(list(0, 0, 1, 10), list(1, 0, 0.5, 5), list(0, 1, 1, 8)))
  expect_equal(unlist(s$row_totals), c(10, 8))
  expect_error(chart_heatmap(c("w1", "w1"), c("0", "0"), c(1, 1)), "more than one value for a \\(row, column\\) cell")
  expect_equal(spec_of(chart_heatmap(character(), character(), numeric()))$kind, "empty")
})

test_that("a Sankey of journeys makes each node an event at a step, and refuses cycles", {
  s <- spec_of(chart_sankey(from = c("page_view", "product_view", "page_view", "page_view"),
                            to = c("product_view", "page_view", "(exit)", "cart"),
                            value = c(5, 3, 2, 0), step = c(1, 2, 1, 1)))
  expect_equal(unlist(s$nodes$id), c("1\u00b7page_view", "2\u00b7product_view", "3\u00b7page_view", "2\u00b7(exit)"))
  expect_equal(unlist(s$nodes$label), c("page_view", "product_view", "page_view", "(exit)"))
  expect_equal(unlist(s$nodes$step), c(1, 2, 3, 2))
  expect_equal(unlist(s$links$source), c(0, 1, 0))  # the zero transition is left out
  expect_equal(unlist(s$links$target), c(1, 2, 3))
  expect_equal(unlist(s$links$value), c(5, 3, 2))
  expect_error(chart_sankey(c("a", "b"), c("b", "a"), c(1, 1)), "form a cycle through a, b")
  expect_silent(chart_sankey(c("a", "b"), c("b", "a"), c(1, 1), step = c(1, 2)))
  expect_equal(spec_of(chart_sankey("a", "b", 0))$kind, "empty")
})

test_that("the chart output names the chart and brings the bundle and the binding", {
  withr::local_options(clickstream.app_dir = APP)
  out <- chart_output("channels", "260px", label = "Sessions by channel")
  html <- as.character(out)
  expect_match(html, 'id="channels" class="clickstream-chart" role="figure" aria-label="Sessions by channel"')
  expect_match(html, 'aria-label="Download Sessions by channel as PNG"')
  expect_match(html, "height:260px")
  deps <- htmltools::findDependencies(out)
  expect_equal(vapply(deps, `[[`, "", "name"), c("echarts", "clickstream-charts"))
  expect_equal(deps[[1]]$version, ECHARTS_VERSION)
  expect_error(chart_output("x"), "label is required")
})

test_that("the bundle is linked from the app's www/ when deployed, else served from the checkout", {
  # From the checkout, run as the app (the working directory is the app's): the binding by
  # relative link, the bundle from roles/shiny_server/vendor.
  deps <- withr::with_dir(APP, chart_dependencies(APP))
  expect_equal(deps[[1]]$src$file, normalizePath(file.path(APP, "..", "..", "vendor", "node_modules", "echarts", "dist")))
  expect_equal(deps[[2]]$src$href, "charts")
  # Deployed: both are files in www/.
  deployed <- withr::local_tempdir()
  dir.create(file.path(deployed, "www", "vendor", paste0("echarts-", ECHARTS_VERSION)), recursive = TRUE)
  file.create(file.path(deployed, "www", "vendor", paste0("echarts-", ECHARTS_VERSION), "echarts.min.js"))
  file.copy(file.path(APP, "www", "charts"), file.path(deployed, "www"), recursive = TRUE)
  deps <- withr::with_dir(deployed, chart_dependencies(deployed))
  expect_equal(deps[[1]]$src$href, paste0("vendor/echarts-", ECHARTS_VERSION))
  expect_equal(deps[[2]]$src$href, "charts")
  # Neither: a clear error naming both places.
  bare <- withr::local_tempdir()
  expect_error(chart_dependencies(bare), "The ECharts 6.1.0 bundle is missing: expected .*the shiny_server role ships it")
})

test_that("render_chart sends a spec as JSON and refuses anything else", {
  shiny::testServer(function(input, output, session) {
    output$ok <- render_chart(chart_bars(c("a", "b"), c(1, 2)))
    output$wrong <- render_chart(data.frame(a = 1))
    output$invalid <- render_chart(shiny::validate(shiny::need(FALSE, "Pick a channel.")))
  }, {
    expect_equal(jsonlite::fromJSON(output$ok)$kind, "bar")
    expect_error(output$wrong, "expected a chart_\\*\\(\\) spec, got data.frame")
    expect_error(output$invalid, "Pick a channel.")
  })
})
