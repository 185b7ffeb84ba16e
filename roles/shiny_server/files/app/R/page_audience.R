# Page: audience - who the visitors are: device type, browser, OS, country, new vs returning,
# guest vs signed in; each with sessions, visitors, orders, revenue and conversion. The page
# filters (channel, device type, country) apply to the headline figures and the breakdown; a
# click on a device type's or a country's bar filters the page by it (again: every one).

AUDIENCE_LABELS <- c(device_type = "Device type", browser = "Browser", os = "Operating system",
                     country = "Country", visitor_type = "New vs returning", login_state = "Guest vs signed in")

audience_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar("Sessions by the UTC day they started, bots excluded; revenue is tracked revenue.",
               selectInput(ns("dimension"), "Break down by",
                           choices = stats::setNames(names(AUDIENCE_LABELS), AUDIENCE_LABELS), width = "220px",
                           selected = url_filter(state, "audience", "dimension", "device_type"),
                           selectize = FALSE),
               segment_filter_inputs(ns, state, "audience")),
    static_ui(ns("body"), tagList(
      layout_column_wrap(
        width = 1 / 4, fill = FALSE, class = "kpi-row",
        kpi_box("Sessions", ns("kpi_sessions"), "window-restore"),
        kpi_box("Visitors", ns("kpi_visitors"), "users", "teal"),
        kpi_box("Conversion rate", ns("kpi_conversion"), "percent", "success"),
        kpi_box("Tracked revenue", ns("kpi_revenue"), "sack-dollar", "info")
      ),
      layout_column_wrap(
        width = 1 / 2, fill = FALSE,
        card(full_screen = TRUE, card_header(textOutput(ns("chart_title"), inline = TRUE),
                                             tags$small(class = "text-muted ms-2", textOutput(ns("chart_hint"), inline = TRUE))),
             chart_output(ns("chart"), "300px", label = "Sessions by audience dimension")),
        card(card_header("Breakdown"), uiOutput(ns("table")))
      )
    ))
  )
}

audience_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    compare <- shared$compare
    seg <- segment_filter_server(input, session, db, range)
    # The segment's headline figures, and the period's before (queried only when comparing).
    previous <- reactive(previous_period(range()[1], range()[2]))
    visitors <- reactive(q_visitors(db, range()[1], range()[2], seg$segment()))
    days <- reactive(started_sessions(q_funnel_daily(db, range()[1], range()[2], seg$segment())))
    previous_visitors <- reactive(q_visitors(db, previous()$from, previous()$to, seg$segment()))
    previous_days <- reactive(started_sessions(q_funnel_daily(db, previous()$from, previous()$to, seg$segment())))
    before <- function(f, name) if (compare()) f()[[name]]
    scope <- reactive(if (is.null(segment_label(seg$segment()))) "every session" else segment_label(seg$segment()))

    output$kpi_sessions <- renderUI(kpi_change_value(days()$sessions, before(previous_days, "sessions"),
                                                     compare = compare(), note = scope()))
    output$kpi_visitors <- renderUI({
      v <- visitors()
      kpi_change_value(v$visitors, before(previous_visitors, "visitors"), compare = compare(), note = visitor_note(v))
    })
    output$kpi_conversion <- renderUI({
      p <- if (compare()) previous_days()
      kpi_rate_value(days()$purchased, days()$sessions, p$purchased, p$sessions, compare = compare(),
                     note = "sessions with a purchase")
    })
    output$kpi_revenue <- renderUI(kpi_change_value(days()$revenue, before(previous_days, "revenue"), fmt_money,
                                                    compare = compare(),
                                                    note = paste(fmt_int(days()$orders), "tracked orders")))

    # A segment dimension's breakdown leaves out its own filter (every bar stays, to click
    # another); the others' filters apply.
    crossed <- reactive(input$dimension %in% SEGMENT_DIMENSIONS)
    breakdown_segment <- reactive({
      s <- seg$segment()
      if (crossed()) s[input$dimension] <- list(NULL)
      s
    })
    blocked <- reactive(segment_filtered(breakdown_segment()) && !crossed())
    rows <- reactive({
      if (blocked()) return(NULL)
      q_audience(db, range()[1], range()[2], input$dimension, breakdown_segment())
    })
    # Without a country database every session's country is NULL: one row with no value.
    unconfigured <- reactive(!is.null(rows()) && input$dimension == "country" && nrow(rows()) > 0 &&
                               all(is.na(rows()$value)))
    labelled <- reactive({
      df <- rows()
      df$label <- ifelse(is.na(df$value), "(unknown)", df$value)
      df
    })
    blocked_message <- paste("Filtered by channel, device type or country, the audience breaks down by device",
                             "type or country only; clear the filters for the others.")

    output$chart_title <- renderText(paste("Sessions by", tolower(AUDIENCE_LABELS[[input$dimension]])))
    output$chart_hint <- renderText(if (crossed()) "click a bar to filter the page by it" else "")
    output$chart <- render_chart({
      validate(need(!blocked(), blocked_message))
      df <- labelled()
      validate(need(!unconfigured(), "Geography is not configured: the ETL has no country database."))
      chart_bars(df$label, list(sessions = df$sessions, visitors = df$visitors),
                 chart_unit("count", "sessions and visitors", "sessions"), horizontal = TRUE, clickable = crossed(),
                 selected = if (crossed()) seg$segment()[[input$dimension]],
                 category_label = AUDIENCE_LABELS[[input$dimension]], empty = "No sessions in the selected period.")
    })
    observeEvent(input$chart_click, {
      clicked <- input$chart_click
      if (crossed() && !identical(clicked, "(unknown)")) seg$toggle(input$dimension, clicked)
    })

    output$table <- renderUI({
      if (blocked()) return(empty_state("Not kept by channel, device type and country.", blocked_message))
      df <- labelled()
      if (nrow(df) == 0) return(empty_state("No sessions in the selected period."))
      if (unconfigured()) {
        return(empty_state("Geography is not configured.",
                           "Set GEOIP_COUNTRY_DB for the ETL (docs/enrichment.md) to see countries."))
      }
      data_table(df, list(label = col(AUDIENCE_LABELS[[input$dimension]]), sessions = col("Sessions", fmt_int),
                          visitors = col("Visitors", fmt_int), orders = col("Orders", fmt_int),
                          revenue = col("Revenue", fmt_money), conversion_rate = col("Conversion", fmt_pct)),
                 id = session$ns("audience_table"))
    })

    # The filters as they go in the URL (app.R).
    reactive(c(list(dimension = input$dimension), seg$segment()))
  })
}
