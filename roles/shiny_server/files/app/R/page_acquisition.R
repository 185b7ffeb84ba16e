# Page: acquisition - where visitors come from: channels (with the purchases attributed to the
# session's own channel, by last non-direct touch or by first touch), sources / mediums /
# campaigns, referrers (dashboard/acquisition.sql; definitions in docs/warehouse-etl.md).

ATTRIBUTIONS <- c("Session's own channel" = "session", "Last non-direct touch" = "last_touch",
                  "First touch" = "first_touch")

acquisition_ui <- function(id, range) {
  ns <- NS(id)
  tagList(
    filter_bar(ns, range, paste("Sessions by the UTC day they started, bots excluded; purchases by the day they",
                                "happened, attributed over a 30-day lookback. Revenue here is tracked revenue."),
               radioButtons(ns("attribution"), "Attribution", choices = ATTRIBUTIONS, inline = TRUE),
               selectInput(ns("channel"), "Sources of channel", choices = ALL_CHOICE, width = "200px")),
    layout_column_wrap(
      width = 1 / 4, fill = FALSE, class = "kpi-row",
      kpi_box("Visitors", ns("kpi_visitors"), "users"),
      kpi_box("New visitors", ns("kpi_new"), "user-plus", "teal"),
      kpi_box("Sessions", ns("kpi_sessions"), "window-restore", "info"),
      kpi_box("Conversion rate", ns("kpi_conversion"), "percent", "success")
    ),
    layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      card(full_screen = TRUE, card_header("Sessions by channel"), plotOutput(ns("channel_chart"), height = "280px")),
      card(full_screen = TRUE, card_header("Attributed revenue by channel"),
           plotOutput(ns("revenue_chart"), height = "280px"))
    ),
    card(card_header("Channels"), uiOutput(ns("channels"))),
    card(card_header("Sources, mediums and campaigns"), uiOutput(ns("sources"))),
    card(card_header("Referrers", tags$small(class = "text-muted ms-2",
                                             "the shop's own hosts and payment gateways left out")),
         uiOutput(ns("referrers")))
  )
}

# The orders and revenue columns of dashboard.channels() for one attribution.
attributed <- function(df, attribution) {
  prefix <- switch(attribution, session = "", last_touch = "last_touch_", first_touch = "first_touch_",
                   stop("unknown attribution: ", attribution))
  data.frame(channel = df$channel, orders = df[[paste0(prefix, "orders")]],
             revenue = as.numeric(df[[paste0(prefix, "revenue")]]))
}

acquisition_server <- function(id, db) {
  moduleServer(id, function(input, output, session) {
    visitors <- reactive(q_visitors(db, input$range[1], input$range[2]))
    channels <- reactive(q_channels(db, input$range[1], input$range[2]))
    sources <- reactive(q_sources(db, input$range[1], input$range[2], input$channel, 25))
    referrers <- reactive(q_referrers(db, input$range[1], input$range[2], 25))

    observeEvent(channels(), {
      choices <- c(ALL_CHOICE, channels()$channel)
      keep <- if (!is.null(input$channel) && input$channel %in% choices) input$channel else ALL_CHOICE
      updateSelectInput(session, "channel", choices = choices, selected = keep)
    })

    output$kpi_visitors <- renderUI({
      v <- visitors()
      kpi_value(v$visitors, note = visitor_note(v))
    })
    output$kpi_new <- renderUI({
      v <- visitors()
      kpi_value(v$new_visitors, note = paste(fmt_int(v$returning_visitors), "returning,",
                                             fmt_int(v$signed_in_users), "signed-in users"))
    })
    output$kpi_sessions <- renderUI(kpi_value(sum(channels()$sessions), note = "shopper sessions started"))
    output$kpi_conversion <- renderUI({
      df <- channels()
      n <- sum(df$sessions)
      converted <- sum(df$conversion_rate * df$sessions, na.rm = TRUE)
      kpi_value(if (n > 0) converted / n else NA, fmt_pct, note = "sessions with a purchase")
    })

    output$channel_chart <- renderPlot({
      df <- channels()
      df <- df[df$sessions > 0, ]
      validate(need(nrow(df) > 0, "No sessions in the selected period."))
      hbar_chart(factor(df$channel, levels = rev(df$channel)), df$sessions,
                 paste0(fmt_int(df$sessions), "  (", fmt_pct(df$conversion_rate), " convert)"),
                 fill = PALETTE[["primary"]], value_labels = label_int, value_title = "sessions",
                 text_size = 3.6, headroom = 0.45)
    }, res = 96)

    output$revenue_chart <- renderPlot({
      df <- attributed(channels(), input$attribution)
      df <- df[df$orders > 0, ]
      validate(need(nrow(df) > 0, "No purchases in the selected period."))
      df <- df[order(-df$revenue, df$channel), ]
      hbar_chart(factor(df$channel, levels = rev(df$channel)), df$revenue,
                 paste0(fmt_money(df$revenue), "  \u00b7  ", fmt_int(df$orders), " orders"),
                 fill = PALETTE[["amber"]], value_labels = label_money,
                 value_title = paste("revenue,", tolower(names(ATTRIBUTIONS)[ATTRIBUTIONS == input$attribution])),
                 text_size = 3.6, headroom = 0.45)
    }, res = 96)

    output$channels <- renderUI({
      df <- channels()
      if (nrow(df) == 0) return(empty_state("No sessions in the selected period."))
      a <- attributed(df, input$attribution)
      df$attributed_orders <- a$orders
      df$attributed_revenue <- a$revenue
      data_table(df, list(channel = col("Channel"), sessions = col("Sessions", fmt_int),
                          visitors = col("Visitors", fmt_int), bounce_rate = col("Bounce rate", fmt_pct),
                          conversion_rate = col("Conversion", fmt_pct),
                          attributed_orders = col("Orders", fmt_int),
                          attributed_revenue = col("Revenue", fmt_money)),
                 id = session$ns("channels_table"))
    })

    output$sources <- renderUI({
      df <- sources()
      if (nrow(df) == 0) return(empty_state("No sessions for this channel in the selected period."))
      data_table(df, list(channel = col("Channel"), source = col("Source"), medium = col("Medium"),
                          campaign = col("Campaign"), sessions = col("Sessions", fmt_int),
                          visitors = col("Visitors", fmt_int), conversion_rate = col("Conversion", fmt_pct),
                          revenue = col("Revenue", fmt_money)),
                 id = session$ns("sources_table"))
    })

    output$referrers <- renderUI({
      df <- referrers()
      if (nrow(df) == 0) return(empty_state("No referred sessions in the selected period."))
      data_table(df, list(referrer_host = col("Referrer"), channel = col("Channel"),
                          sessions = col("Sessions", fmt_int), orders = col("Orders", fmt_int),
                          revenue = col("Revenue", fmt_money)),
                 id = session$ns("referrers_table"))
    })
  })
}

# "exact", or the relative error of an approximate (sketched) count.
visitor_note <- function(v) {
  if (isTRUE(as.logical(v$approximate))) {
    paste0("distinct browsers, approximate (\u00b1", fmt_pct(as.numeric(v$relative_error)), ")")
  } else {
    "distinct browsers, exact"
  }
}
