# Page: audience - who the visitors are: device type, browser, OS, country, new vs returning,
# guest vs signed in; each with sessions, visitors, orders, revenue and conversion.

AUDIENCE_LABELS <- c(device_type = "Device type", browser = "Browser", os = "Operating system",
                     country = "Country", visitor_type = "New vs returning", login_state = "Guest vs signed in")

audience_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar("Sessions by the UTC day they started, bots excluded; revenue is tracked revenue.",
               selectInput(ns("dimension"), "Break down by",
                           choices = stats::setNames(names(AUDIENCE_LABELS), AUDIENCE_LABELS), width = "220px",
                           selected = url_filter(state, "audience", "dimension", "device_type"),
                           selectize = FALSE)),
    layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      card(full_screen = TRUE, card_header(textOutput(ns("chart_title"), inline = TRUE)),
           chart_output(ns("chart"), "300px", label = "Sessions by audience dimension")),
      card(card_header("Breakdown"), uiOutput(ns("table")))
    )
  )
}

audience_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    rows <- reactive(q_audience(db, range()[1], range()[2], input$dimension))
    # Without a country database every session's country is NULL: one row with no value.
    unconfigured <- reactive(input$dimension == "country" && nrow(rows()) > 0 && all(is.na(rows()$value)))
    labelled <- reactive({
      df <- rows()
      df$label <- ifelse(is.na(df$value), "(unknown)", df$value)
      df
    })

    output$chart_title <- renderText(paste("Sessions by", tolower(AUDIENCE_LABELS[[input$dimension]])))
    output$chart <- render_chart({
      df <- labelled()
      validate(need(!unconfigured(), "Geography is not configured: the ETL has no country database."))
      chart_bars(df$label, list(sessions = df$sessions, visitors = df$visitors),
                 chart_unit("count", "sessions and visitors", "sessions"), horizontal = TRUE, clickable = FALSE,
                 category_label = AUDIENCE_LABELS[[input$dimension]], empty = "No sessions in the selected period.")
    })

    output$table <- renderUI({
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
    reactive(list(dimension = input$dimension))
  })
}
