# Clickstream dashboards: one page per view over the warehouse's dashboard.* functions.
# R/ holds the query wrappers (db.R), number formatting (format.R), the UI building blocks every
# page shares (ui_helpers.R) and one module per page (page_*.R); Shiny sources it automatically.

suppressPackageStartupMessages({
  library(shiny)
  library(bslib)
})

# Every day and hour in the dashboards is UTC, as in the warehouse.
Sys.setenv(TZ = "UTC")

DEFAULT_DAYS <- 30

# The range every page opens with: ?from=YYYY-MM-DD&to=YYYY-MM-DD when given (shareable
# links), else the last DEFAULT_DAYS days that hold data, else the last week.
initial_range <- function(query) {
  reachable <- TRUE
  bounds <- tryCatch({
    db <- db_handle()
    on.exit(db$close())
    q_data_bounds(db)
  }, error = function(e) {
    warning("cannot read the data bounds: ", conditionMessage(e))
    reachable <<- FALSE
    data.frame(first_day = as.Date(NA), last_day = as.Date(NA))
  })
  today <- Sys.Date()
  last <- if (is.na(bounds$last_day)) today else as.Date(bounds$last_day)
  first_data <- if (is.na(bounds$first_day)) last - 6 else as.Date(bounds$first_day)
  from <- max(first_data, last - (DEFAULT_DAYS - 1))
  to <- last
  parsed <- function(x) tryCatch(as.Date(x, format = "%Y-%m-%d"), error = function(e) NA)
  if (!is.null(query$from) && !is.na(parsed(query$from))) from <- parsed(query$from)
  if (!is.null(query$to) && !is.na(parsed(query$to))) to <- parsed(query$to)
  if (from > to) from <- to
  list(from = from, to = to, reachable = reachable,
       last_day = if (is.na(bounds$last_day)) "" else format(as.Date(bounds$last_day)))
}

theme <- bs_theme(
  version = 5,
  primary = "#2563eb", success = "#059669", info = "#0284c7", warning = "#d97706", danger = "#e11d48",
  "navbar-bg" = "#0f172a",
  base_font = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
  "font-size-base" = "0.925rem", "border-radius" = "0.5rem"
)

ui <- function(req) {
  range <- initial_range(parseQueryString(if (is.null(req$QUERY_STRING)) "" else req$QUERY_STRING))
  page_navbar(
    title = tags$span(icon("chart-simple"), "Clickstream analytics"),
    id = "page",
    theme = theme,
    window_title = "Clickstream analytics",
    header = tags$head(
      tags$link(rel = "stylesheet", href = "dashboard.css"),
      # For health checks: did this page reach the warehouse, and the latest day it holds.
      tags$meta(name = "clickstream-warehouse", content = if (range$reachable) "reachable" else "unreachable"),
      tags$meta(name = "clickstream-data-through", content = range$last_day)
    ),
    footer = if (!range$reachable) {
      tags$div(class = "alert alert-danger m-3", role = "alert",
               "The warehouse cannot be reached right now, so figures are missing. Try again shortly.")
    },
    nav("Activity", value = "activity", icon = icon("chart-line"), activity_ui("activity", range)),
    nav("Conversion funnel", value = "funnel", icon = icon("filter"), funnel_ui("funnel", range)),
    nav("Products", value = "products", icon = icon("laptop"), products_ui("products", range)),
    nav("Acquisition", value = "acquisition", icon = icon("bullhorn"), acquisition_ui("acquisition", range)),
    nav("Audience", value = "audience", icon = icon("users"), audience_ui("audience", range)),
    nav("Retention", value = "retention", icon = icon("arrows-rotate"), retention_ui("retention", range)),
    nav("User journeys", value = "journeys", icon = icon("route"), journeys_ui("journeys", range)),
    nav("Data health", value = "health", icon = icon("heart-pulse"), health_ui("health", range)),
    nav_spacer(),
    nav_item(tags$span(class = "navbar-text small", "All times UTC"))
  )
}

server <- function(input, output, session) {
  # One warehouse connection per browser session, closed when the tab goes away.
  db <- db_handle()
  session$onSessionEnded(db$close)
  # Pages load when first opened; hidden pages do not query the warehouse.
  activity_server("activity", db)
  funnel_server("funnel", db)
  products_server("products", db)
  acquisition_server("acquisition", db)
  audience_server("audience", db)
  retention_server("retention", db)
  journeys_server("journeys", db)
  health_server("health", db)
}

shinyApp(ui, server)
