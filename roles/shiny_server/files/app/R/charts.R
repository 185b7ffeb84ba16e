# Interactive charts: Apache ECharts in the browser, served by the app itself (the host has no
# internet route, so no CDN), drawn by one Shiny output binding (www/charts/charts.js). R sends
# each chart as a small, explicit spec built by a chart_*() function below; the binding owns the
# look (Okabe-Ito palette, units on axes and in tooltips, zoom, click-to-filter, aria labels,
# PNG export), so every page's charts behave alike.
#
#   ui:     chart_output(ns("channels"), "260px", label = "Sessions by channel")
#   server: output$channels <- render_chart(
#             chart_bars(df$channel, df$sessions, chart_unit("count", "sessions", "sessions")))
#           observeEvent(input$channels_click, ...)  # the category of the bar clicked
#
# Only htmltools, jsonlite and shiny (all with namespace prefixes): the file can be sourced
# without attaching shiny (the testthat runner and the role's verify do).

# The bundle's version; equal to roles/shiny_server/vendor/package.json and the role's
# shiny_server_echarts_version (tests/dashboard/test_charts.py checks all three).
ECHARTS_VERSION <- "6.1.0"
# Version of www/charts/ (the binding and the CSS of charts and value-box changes): bump it when
# they change, so browsers that cached the old files fetch the new ones.
CHART_BINDING_VERSION <- "1.2.0"

CHART_UNIT_TYPES <- c("count", "money", "percent", "number")

# How a chart's values read. type: count (1,234), money ($1,234.50), percent (a share 0-1,
# shown as 12.5%), number (1,234.5); axis: the value axis' title ("sessions per day");
# suffix: the word after a value in tooltips ("1,234 sessions"); digits: decimals shown.
chart_unit <- function(type = "count", axis = "", suffix = "", digits = NULL) {
  if (!is.character(type) || length(type) != 1 || !type %in% CHART_UNIT_TYPES) {
    stop("chart_unit: type must be one of ", paste(CHART_UNIT_TYPES, collapse = ", "), ", got ",
         paste(format(type), collapse = " "), call. = FALSE)
  }
  if (is.null(digits)) digits <- switch(type, count = 0L, money = 2L, percent = 1L, number = 1L)
  if (!is.numeric(digits) || length(digits) != 1 || is.na(digits) || digits < 0 || digits > 6) {
    stop("chart_unit: digits must be 0-6, got ", format(digits), call. = FALSE)
  }
  list(type = type, axis = as.character(axis), suffix = as.character(suffix), digits = as.integer(digits))
}

# ---- output and render -----------------------------------------------------------------------

# Where the app's files are: the running app's directory, unless a test app that sources these
# files from elsewhere says (options(clickstream.app_dir = ...)).
chart_app_dir <- function() getOption("clickstream.app_dir", getwd())

# The ECharts bundle and the binding, as htmltools dependencies (each included once per page).
# Deployed, both are static files under the app's www/ (the role puts the bundle at
# www/vendor/echarts-<version>/): the page loads them from there. From a source checkout the
# bundle comes from the npm install in roles/shiny_server/vendor, served by Shiny.
chart_dependencies <- function(app_dir = chart_app_dir()) {
  serving_app_dir <- identical(normalizePath(app_dir, mustWork = FALSE), normalizePath(getwd(), mustWork = FALSE))
  vendor_href <- paste0("vendor/echarts-", ECHARTS_VERSION)
  deployed <- file.path(app_dir, "www", vendor_href, "echarts.min.js")
  checkout <- file.path(app_dir, "..", "..", "vendor", "node_modules", "echarts", "dist", "echarts.min.js")
  echarts_src <- if (serving_app_dir && file.exists(deployed)) {
    c(href = vendor_href)
  } else if (file.exists(deployed)) {
    c(file = normalizePath(dirname(deployed)))
  } else if (file.exists(checkout)) {
    c(file = normalizePath(dirname(checkout)))
  } else {
    stop("The ECharts ", ECHARTS_VERSION, " bundle is missing: expected ", deployed,
         " (the shiny_server role ships it) or ", normalizePath(checkout, mustWork = FALSE),
         " (scripts/bootstrap.sh installs it)", call. = FALSE)
  }
  list(
    htmltools::htmlDependency("echarts", ECHARTS_VERSION, src = echarts_src, script = "echarts.min.js",
                              all_files = FALSE),
    app_asset_dependency("clickstream-charts", script = "charts.js", stylesheet = "charts.css", app_dir = app_dir)
  )
}

# The app's own files under www/charts/ as a dependency: relative links when this app serves
# them, served by Shiny from the directory when a test app sources these files.
app_asset_dependency <- function(name, script = NULL, stylesheet = NULL, app_dir = chart_app_dir()) {
  dir <- file.path(app_dir, "www", "charts")
  for (f in c(script, stylesheet)) {
    if (!file.exists(file.path(dir, f))) stop("The app's file ", file.path(dir, f), " is missing", call. = FALSE)
  }
  serving_app_dir <- identical(normalizePath(app_dir, mustWork = FALSE), normalizePath(getwd(), mustWork = FALSE))
  htmltools::htmlDependency(name, CHART_BINDING_VERSION,
                            src = if (serving_app_dir) c(href = "charts") else c(file = normalizePath(dir)),
                            script = script, stylesheet = stylesheet, all_files = FALSE)
}

# The place of one chart on a page. label names the chart for screen readers and the PNG
# button; the chart's own aria description (ECharts') lists its data. The PNG is saved as
# <png_name>.png.
chart_output <- function(id, height = "300px", label, png_name = id) {
  if (missing(label) || !is.character(label) || length(label) != 1 || !nzchar(label)) {
    stop("chart_output(", id, "): label is required (it names the chart for screen readers)", call. = FALSE)
  }
  htmltools::attachDependencies(
    htmltools::tags$div(
      id = id, class = "clickstream-chart", role = "figure", `aria-label` = label,
      `data-png-name` = png_name, `data-state` = "pending", `data-empty-hint` = CHART_EMPTY_HINT,
      htmltools::tags$div(
        class = "chart-toolbar",
        htmltools::tags$button(type = "button", class = "btn btn-sm btn-outline-secondary chart-png", disabled = NA,
                               title = "Download this chart as a PNG image",
                               `aria-label` = paste("Download", label, "as PNG"), "PNG")
      ),
      htmltools::tags$div(class = "chart-canvas", role = "img", `aria-label` = label,
                          style = htmltools::css(height = htmltools::validateCssUnit(height))),
      htmltools::tags$div(class = "chart-empty empty-state", hidden = NA,
                          htmltools::tags$div(class = "empty-state-title"),
                          htmltools::tags$div(class = "empty-state-hint"))
    ),
    chart_dependencies()
  )
}

# Renders a chart_*() spec into a chart_output(). shiny::validate()/req() work as in any render
# function: a validation message shows as the chart's empty state.
render_chart <- function(expr, env = parent.frame(), quoted = FALSE) {
  shiny::installExprFunction(expr, "func", env, quoted, label = "render_chart")
  shiny::createRenderFunction(func, function(value, session, name, ...) {
    if (is.null(value)) return(NULL)
    if (!inherits(value, "clickstream_chart")) {
      stop("render_chart(", name, "): expected a chart_*() spec, got ", class(value)[1], call. = FALSE)
    }
    chart_json(value)
  }, chart_output)
}

# The JSON the browser receives. Vectors are wrapped in I() by the builders, so a one-point
# series stays an array; NA becomes null (a gap).
chart_json <- function(spec) {
  jsonlite::toJSON(unclass(spec), auto_unbox = TRUE, null = "null", na = "null", digits = NA)
}

# ---- builders ----------------------------------------------------------------------------------

CHART_EMPTY_MESSAGE <- "No data in the selected period."
CHART_EMPTY_HINT <- "Widen the date range or clear the filters."

# What a chart shows when there is nothing to draw. Every builder returns this itself when its
# values hold no non-zero figure.
chart_empty <- function(message = CHART_EMPTY_MESSAGE, hint = CHART_EMPTY_HINT) {
  chart_spec("empty", message = message, hint = hint)
}

chart_spec <- function(kind, ...) structure(list(kind = kind, ...), class = "clickstream_chart")

# Time series: one line (or area) per series over hours or days, zoomable (wheel or drag inside
# the plot, or the slider below it). time: Date or POSIXct (UTC); series: a named list of numeric
# vectors, one per line, the names shown in the legend and tooltip. suffixes: optionally the word
# after each series' values in the tooltip (a named character vector, by series name: "Users" =
# "distinct browsers"), where the series count different things; else unit$suffix for all.
chart_timeseries <- function(time, series, unit = chart_unit(), grain = c("day", "hour"), area = FALSE,
                             stacked = FALSE, suffixes = NULL, description = NULL,
                             empty = CHART_EMPTY_MESSAGE, hint = CHART_EMPTY_HINT) {
  grain <- match.arg(grain)
  if (!inherits(time, c("Date", "POSIXt"))) {
    stop("chart_timeseries: time must be Date or POSIXct, got ", class(time)[1], call. = FALSE)
  }
  if (anyNA(time)) stop("chart_timeseries: time has missing values", call. = FALSE)
  series <- check_series("chart_timeseries", series, length(time))
  if (!is.null(suffixes)) {
    if (!is.character(suffixes) || is.null(names(suffixes)) || anyNA(suffixes)) {
      stop("chart_timeseries: suffixes must be a named character vector", call. = FALSE)
    }
    unknown <- setdiff(names(suffixes), names(series))
    if (length(unknown)) {
      stop("chart_timeseries: suffixes for no series: ", paste(unknown, collapse = ", "), call. = FALSE)
    }
  }
  if (!has_figures(series)) return(chart_empty(empty, hint))
  ms <- as.numeric(as.POSIXct(time, tz = "UTC")) * 1000
  ord <- order(ms)
  suffix_of <- function(n) if (!is.null(suffixes) && n %in% names(suffixes)) suffixes[[n]] else unit$suffix
  chart_spec("timeseries", grain = grain, area = isTRUE(area), stacked = isTRUE(stacked), unit = unit,
             x_label = paste(grain, "(UTC)"), time = I(ms[ord]),
             series = lapply(names(series), function(n) list(name = n, values = I(series[[n]][ord]),
                                                             suffix = suffix_of(n))),
             description = description)
}

# Bars per category, vertical or horizontal (long labels read better across). values: a numeric
# vector, or a named list of them for grouped bars. clickable: a click on a bar sets
# input$<output id>_click to its category (an event: clicking the same bar again fires again).
# selected: the category the page is filtered by, drawn solid while the others fade.
chart_bars <- function(categories, values, unit = chart_unit(), horizontal = FALSE, clickable = TRUE,
                       selected = NULL, category_label = "", description = NULL,
                       empty = CHART_EMPTY_MESSAGE, hint = CHART_EMPTY_HINT) {
  categories <- check_labels("chart_bars", categories, "categories")
  series <- if (is.list(values)) values else list(values)
  if (is.null(names(series))) names(series) <- if (length(series) == 1) unit$suffix else paste("series", seq_along(series))
  series <- check_series("chart_bars", series, length(categories), require_names = FALSE)
  if (!has_figures(series)) return(chart_empty(empty, hint))
  chart_spec("bar", horizontal = isTRUE(horizontal), clickable = isTRUE(clickable), unit = unit,
             category_label = category_label, categories = I(categories),
             selected = if (length(selected) == 1 && !is.na(selected) && nzchar(selected)) as.character(selected),
             series = lapply(seq_along(series), function(i) list(name = names(series)[i], values = I(series[[i]]))),
             description = description)
}

# A funnel as stepped horizontal bars (lengths stay proportional): each step with its share of
# the first step and of the step before, in its label and tooltip.
chart_funnel <- function(steps, values, unit = chart_unit("count", "sessions", "sessions"), clickable = FALSE,
                         description = NULL, empty = CHART_EMPTY_MESSAGE, hint = CHART_EMPTY_HINT) {
  steps <- check_labels("chart_funnel", steps, "steps")
  values <- check_series("chart_funnel", list(values = values), length(steps))$values
  if (!has_figures(list(values))) return(chart_empty(empty, hint))
  share <- function(num, den) {
    out <- num / den
    out[is.na(den) | den == 0] <- NA_real_
    out
  }
  chart_spec("funnel", clickable = isTRUE(clickable), unit = unit, steps = I(steps), values = I(values),
             share_of_first = I(share(values, values[1])),
             share_of_previous = I(c(NA_real_, share(values[-1], values[-length(values)]))),
             description = description)
}

# A heatmap from long rows, one per cell (as SQL returns them), e.g. retention: row = cohort
# week, column = weeks since, value = share active, count = visitors active, row_total = the
# cohort's size. Rows and columns keep their order of first appearance (or factor levels).
chart_heatmap <- function(row, column, value, count = NULL, row_total = NULL,
                          unit = chart_unit("percent", suffix = "active"), count_label = "visitors",
                          row_label = "", column_label = "", description = NULL,
                          empty = CHART_EMPTY_MESSAGE, hint = CHART_EMPTY_HINT) {
  row <- check_labels("chart_heatmap", row, "row")
  column <- check_labels("chart_heatmap", column, "column")
  n <- length(row)
  if (length(column) != n) stop("chart_heatmap: row and column must have the same length", call. = FALSE)
  value <- check_series("chart_heatmap", list(value = value), n)$value
  if (!is.null(count)) count <- check_series("chart_heatmap", list(count = count), n)$count
  if (!is.null(row_total)) row_total <- check_series("chart_heatmap", list(row_total = row_total), n)$row_total
  if (anyDuplicated(paste(row, column, sep = "\r"))) {
    stop("chart_heatmap: more than one value for a (row, column) cell", call. = FALSE)
  }
  if (!has_figures(list(value))) return(chart_empty(empty, hint))
  rows <- unique(row)
  columns <- unique(column)
  keep <- !is.na(value)
  cells <- unname(Map(function(ci, ri, v, k) I(c(ci, ri, v, k)),
                      match(column, columns)[keep] - 1, match(row, rows)[keep] - 1, value[keep],
                      if (is.null(count)) rep(NA_real_, sum(keep)) else count[keep]))
  chart_spec("heatmap", unit = unit, count_label = count_label, row_label = row_label, column_label = column_label,
             rows = I(rows), columns = I(columns), cells = cells,
             row_totals = if (!is.null(row_total)) I(row_total[match(rows, row)]),
             description = description)
}

# A Sankey of transitions from -> to with their counts. Sankeys cannot draw cycles; journeys
# repeat events, so pass step (the step number of `from`) and each node is an event at a step:
# "page_view" at step 1 flows into "product_view" at step 2, labelled with the event only.
chart_sankey <- function(from, to, value, step = NULL, unit = chart_unit("count", "sessions", "sessions"),
                         description = NULL, empty = CHART_EMPTY_MESSAGE, hint = CHART_EMPTY_HINT) {
  from <- check_labels("chart_sankey", from, "from")
  to <- check_labels("chart_sankey", to, "to")
  n <- length(from)
  if (length(to) != n) stop("chart_sankey: from and to must have the same length", call. = FALSE)
  value <- check_series("chart_sankey", list(value = value), n)$value
  if (!is.null(step)) {
    if (!is.numeric(step) || length(step) != n || anyNA(step)) {
      stop("chart_sankey: step must be a number per transition", call. = FALSE)
    }
    from_id <- paste0(step, "\u00b7", from)
    to_id <- paste0(step + 1, "\u00b7", to)
    node_step <- c(step, step + 1)
  } else {
    from_id <- from
    to_id <- to
    node_step <- rep(NA_real_, 2 * n)
  }
  keep <- !is.na(value) & value > 0
  if (!any(keep)) return(chart_empty(empty, hint))
  from_id <- from_id[keep]
  to_id <- to_id[keep]
  ids <- unique(c(from_id, to_id))
  labels <- c(from[keep], to[keep])[match(ids, c(from_id, to_id))]
  steps <- node_step[c(keep, keep)][match(ids, c(from_id, to_id))]
  source <- match(from_id, ids) - 1
  target <- match(to_id, ids) - 1
  cycle <- sankey_cycle(source, target, length(ids))
  if (length(cycle)) {
    stop("chart_sankey: the transitions form a cycle through ", paste(ids[cycle + 1], collapse = ", "),
         "; give the step of each transition (step =) so that nodes are events at a step", call. = FALSE)
  }
  chart_spec("sankey", unit = unit,
             nodes = list(id = I(ids), label = I(labels), step = if (!is.null(step)) I(steps)),
             links = list(source = I(source), target = I(target), value = I(value[keep])),
             description = description)
}

# ---- checks -------------------------------------------------------------------------------------

check_labels <- function(fn, x, what) {
  if (is.factor(x)) x <- as.character(x)
  if (!is.character(x)) stop(fn, ": ", what, " must be text, got ", class(x)[1], call. = FALSE)
  if (anyNA(x)) stop(fn, ": ", what, " has missing values", call. = FALSE)
  x
}

# A named list of numeric vectors of length n; non-finite values become NA (drawn as gaps).
check_series <- function(fn, series, n, require_names = TRUE) {
  if (!is.list(series) || length(series) == 0) stop(fn, ": series must be a named list of numeric vectors", call. = FALSE)
  if (require_names && (is.null(names(series)) || any(!nzchar(names(series))))) {
    stop(fn, ": every series needs a name (the legend and tooltip show it)", call. = FALSE)
  }
  for (i in seq_along(series)) {
    v <- series[[i]]
    what <- if (!is.null(names(series)) && nzchar(names(series)[i])) names(series)[i] else "values"
    if (!is.numeric(v)) stop(fn, ": ", what, " must be numeric, got ", class(v)[1], call. = FALSE)
    if (length(v) != n) stop(fn, ": ", what, " has ", length(v), " values for ", n, " points", call. = FALSE)
    v <- as.numeric(v)
    v[!is.finite(v)] <- NA_real_
    series[[i]] <- v
  }
  series
}

has_figures <- function(series) any(vapply(series, function(v) any(!is.na(v) & v != 0), logical(1)))

# The nodes (0-based) left on a cycle after removing every node without incoming links again and
# again (Kahn); none when the links form a DAG.
sankey_cycle <- function(source, target, n) {
  alive <- rep(TRUE, n)
  repeat {
    live_links <- alive[source + 1] & alive[target + 1]
    has_in <- seq_len(n) %in% (target[live_links] + 1)
    free <- alive & !has_in
    if (!any(free)) break
    alive[free] <- FALSE
  }
  which(alive) - 1
}
