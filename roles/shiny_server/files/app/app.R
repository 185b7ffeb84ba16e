# Clickstream dashboards: one page per view over the warehouse's dashboard.* functions.
# R/ holds the query wrappers (db.R), number formatting (format.R), the UI building blocks every
# page shares (ui_helpers.R), the pages' UI rendered once per R process (ui_cache.R) and one
# module per page (page_*.R); Shiny sources it automatically.

suppressPackageStartupMessages({
  library(shiny)
  library(bslib)
})

# Every day and hour in the dashboards is UTC, as in the warehouse.
Sys.setenv(TZ = "UTC")

# The app's own closures are not byte-compiled: every session creates its pages' servers,
# reactives and render functions anew, and R's JIT compiled each one before its first call - a
# fifth of the R time of a session (Rprof: 0.6 of 2.7 s over a warm-up and two page loads), for
# code that runs a few times. Installed packages stay compiled.
invisible(compiler::enableJIT(0))

DEFAULT_DAYS <- 30

# The data bounds every page load reads (where it opens) come through one connection per R
# process, opened on the first load and kept: a connection per load cost a connect and its three
# SETs each time. The bounds are read anew on every load, so a page opens on the newest day the
# moment the ETL has loaded it; a dropped connection is reopened once (db_handle, R/db.R).
bounds_db <- db_handle()

# The view a page opens with (R/url_state.R): the link's range, comparison, page and filters
# where it gives valid ones; else the last DEFAULT_DAYS days that hold data (else the last week),
# compared with the period before, on the Activity page.
initial_state <- function(query) {
  reachable <- TRUE
  bounds <- tryCatch(q_data_bounds(bounds_db), error = function(e) {
    warning("cannot read the data bounds: ", conditionMessage(e))
    reachable <<- FALSE
    data.frame(first_day = as.Date(NA), last_day = as.Date(NA))
  })
  today <- Sys.Date()
  last <- if (is.na(bounds$last_day)) today else as.Date(bounds$last_day)
  first_data <- if (is.na(bounds$first_day)) last - 6 else as.Date(bounds$first_day)
  state <- url_state(query, max(first_data, last - (DEFAULT_DAYS - 1)), last)
  c(state, list(reachable = reachable,
                last_day = if (is.na(bounds$last_day)) "" else format(as.Date(bounds$last_day))))
}

# The bar under the navbar that every page reads: one date range, and whether headline figures
# show their change on the period of the same length just before (R/compare.R).
range_bar <- function(state) {
  tags$div(class = "range-bar", role = "region", `aria-label` = "Date range of every page",
           dateRangeInput("range", "Date range (UTC)", start = state$from, end = state$to, weekstart = 1),
           checkboxInput("compare", "Compare to the previous period", value = state$compare),
           tags$div(class = "range-bar-note", textOutput("previous_period", inline = TRUE)))
}

theme <- bs_theme(
  version = 5,
  primary = "#2563eb", success = "#059669", info = "#0284c7", warning = "#d97706", danger = "#e11d48",
  "navbar-bg" = "#0f172a",
  base_font = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
  "font-size-base" = "0.925rem", "border-radius" = "0.5rem"
)

ui <- function(req) {
  state <- initial_state(parseQueryString(if (is.null(req$QUERY_STRING)) "" else req$QUERY_STRING))
  page_navbar(
    title = tags$span(icon("chart-simple"), "Clickstream analytics"),
    id = "page",
    selected = state$page,
    theme = theme,
    window_title = "Clickstream analytics",
    header = tagList(tags$head(
      tags$link(rel = "stylesheet", href = "dashboard.css"),
      # For health checks: did this page reach the warehouse, and the latest day it holds.
      tags$meta(name = "clickstream-warehouse", content = if (state$reachable) "reachable" else "unreachable"),
      tags$meta(name = "clickstream-data-through", content = state$last_day)
    ), range_bar(state)),
    footer = if (!state$reachable) {
      tags$div(class = "alert alert-danger m-3", role = "alert",
               "The warehouse cannot be reached right now, so figures are missing. Try again shortly.")
    },
    nav("Activity", value = "activity", icon = icon("chart-line"), activity_ui("activity", state)),
    nav("Conversion funnel", value = "funnel", icon = icon("filter"), funnel_ui("funnel", state)),
    nav("Products", value = "products", icon = icon("laptop"), products_ui("products", state)),
    nav("Acquisition", value = "acquisition", icon = icon("bullhorn"), acquisition_ui("acquisition", state)),
    nav("Audience", value = "audience", icon = icon("users"), audience_ui("audience", state)),
    nav("Retention", value = "retention", icon = icon("arrows-rotate"), retention_ui("retention", state)),
    nav("User journeys", value = "journeys", icon = icon("route"), journeys_ui("journeys", state)),
    nav("Data health", value = "health", icon = icon("heart-pulse"), health_ui("health", state)),
    nav_spacer(),
    nav_item(tags$span(class = "navbar-text small", "All times UTC"))
  )
}

# Each page's module server (R/page_<page>.R), by page.
PAGE_SERVERS <- list(activity = activity_server, funnel = funnel_server, products = products_server,
                     acquisition = acquisition_server, audience = audience_server,
                     retention = retention_server, journeys = journeys_server, health = health_server)

server <- function(input, output, session) {
  # One warehouse connection per browser session, closed when the tab goes away.
  db <- db_handle()
  session$onSessionEnded(db$close)
  # The shared range every page reads (a from after to, typed by hand, is read the other way round)
  # and whether to compare with the period before.
  range <- reactive({
    r <- input$range
    req(length(r) == 2, !anyNA(r))
    r <- as.Date(r)
    if (r[1] > r[2]) rev(r) else r
  })
  compare <- reactive(isTRUE(input$compare))
  shared <- list(range = range, compare = compare)
  output$previous_period <- renderText({
    if (!compare()) return("")
    p <- previous_period(range()[1], range()[2])
    paste0("against ", format(p$from), " to ", format(p$to), " (UTC)")
  })
  # A page's server - its reactives, outputs and the observers that fill its filters' choices -
  # is created the first time the page is opened, and lives on for the session. Created at
  # session start, the eight pages' servers cost R time before the open page's first figures
  # were sent, and their observers queried the warehouse for pages not shown (their outputs
  # waited anyway: Shiny suspends hidden outputs). Each returns its filters as they go in the URL
  # (a reactive, or NULL), kept in `filters` (a page not yet opened has none).
  filters <- list()
  observeEvent(input$page, {
    page <- input$page
    if (page %in% PAGES && !page %in% names(filters)) {
      filters[page] <<- list(PAGE_SERVERS[[page]](page, db, shared))
    }
  }, priority = 1)
  # The address bar follows the view, so a copied link reproduces it (R/url_state.R); after the
  # page's server exists (the observer above has the higher priority).
  observe({
    page <- input$page
    req(page %in% PAGES)
    page_filters <- if (is.reactive(filters[[page]])) filters[[page]]() else list()
    updateQueryString(url_query(page, range()[1], range()[2], page_filters, compare()), mode = "replace")
  })
}

shinyApp(ui, server)
