# Page: acquisition - where visitors come from: channels (with the purchases attributed to the
# session's own channel, by last non-direct touch or by first touch), sources / mediums /
# campaigns, referrers (dashboard/acquisition.sql; definitions in docs/warehouse-etl.md).

ATTRIBUTIONS <- c("Session's own channel" = "session", "Last non-direct touch" = "last_touch",
                  "First touch" = "first_touch")

acquisition_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar(paste("Sessions by the UTC day they started, bots excluded; purchases by the day they",
                                "happened, attributed over a 30-day lookback. Revenue here is tracked revenue."),
               radioButtons(ns("attribution"), "Attribution", choices = ATTRIBUTIONS, inline = TRUE,
                            selected = url_filter(state, "acquisition", "attribution", "session")),
               url_select(ns("channel"), "Channel", url_filter(state, "acquisition", "channel"),
                          width = "200px")),
    static_ui(ns("body"), tagList(
      layout_column_wrap(
        width = 1 / 4, fill = FALSE, class = "kpi-row",
        kpi_box("Visitors", ns("kpi_visitors"), "users"),
        kpi_box("New visitors", ns("kpi_new"), "user-plus", "teal"),
        kpi_box("Sessions", ns("kpi_sessions"), "window-restore", "info"),
        kpi_box("Conversion rate", ns("kpi_conversion"), "percent", "success")
      ),
      layout_column_wrap(
        width = 1 / 2, fill = FALSE,
        card(full_screen = TRUE, card_header("Sessions by channel", tags$small(class = "text-muted ms-2",
                                                                            "click a bar to filter the page by it")),
             chart_output(ns("channel_chart"), "280px", label = "Sessions by channel")),
        card(full_screen = TRUE, card_header("Attributed revenue by channel"),
             chart_output(ns("revenue_chart"), "280px", label = "Attributed revenue by channel"))
      ),
      card(card_header("Channels"), uiOutput(ns("channels"))),
      card(card_header("Sources, mediums and campaigns"), uiOutput(ns("sources"))),
      card(card_header("Referrers", tags$small(class = "text-muted ms-2",
                                               "the shop's own hosts and payment gateways left out")),
           uiOutput(ns("referrers")))
    ))
  )
}

# The orders and revenue columns of dashboard.channels() for one attribution.
attributed <- function(df, attribution) {
  prefix <- switch(attribution, session = "", last_touch = "last_touch_", first_touch = "first_touch_",
                   stop("unknown attribution: ", attribution))
  data.frame(channel = df$channel, orders = df[[paste0(prefix, "orders")]],
             revenue = as.numeric(df[[paste0(prefix, "revenue")]]))
}

acquisition_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    compare <- shared$compare
    # The channel filter (a click on a channel's bar, or the select): the headline figures and the
    # sources are that channel's; the channel charts and table keep every channel, the chosen one
    # marked.
    chosen <- reactive(if (is.null(input$channel) || identical(input$channel, ALL_CHOICE)) NULL else input$channel)
    of_chosen <- function(df) if (is.null(chosen())) df else df[df$channel == chosen(), , drop = FALSE]
    visitors <- reactive(q_visitors(db, range()[1], range()[2], list(channel = chosen())))
    channels <- reactive(q_channels(db, range()[1], range()[2]))
    # The headline figures beside the period of the same length just before (compare.R).
    previous <- reactive(previous_period(range()[1], range()[2]))
    previous_visitors <- reactive(q_visitors(db, previous()$from, previous()$to, list(channel = chosen())))
    previous_channels <- reactive(q_channels(db, previous()$from, previous()$to))
    sources <- reactive(q_sources(db, range()[1], range()[2], input$channel, 25))
    referrers <- reactive(q_referrers(db, range()[1], range()[2], 25))

    observeEvent(channels(), {
      choices <- c(ALL_CHOICE, channels()$channel)
      keep <- if (!is.null(input$channel) && input$channel %in% choices) input$channel else ALL_CHOICE
      updateSelectInput(session, "channel", choices = choices, selected = keep)
    })

    # A figure of the previous period, NULL when not comparing (then it is not queried).
    before <- function(f) if (compare()) f()

    output$kpi_visitors <- renderUI({
      v <- visitors()
      kpi_change_value(v$visitors, before(function() previous_visitors()$visitors), compare = compare(),
                       note = visitor_note(v))
    })
    output$kpi_new <- renderUI({
      v <- visitors()
      kpi_change_value(v$new_visitors, before(function() previous_visitors()$new_visitors), compare = compare(),
                       note = paste0(fmt_int(v$returning_visitors), " returning",
                                     if (!is.na(v$signed_in_users)) paste(",", fmt_int(v$signed_in_users), "signed-in users")))
    })
    output$kpi_sessions <- renderUI(kpi_change_value(sum(of_chosen(channels())$sessions),
                                                     before(function() sum(of_chosen(previous_channels())$sessions)),
                                                     compare = compare(),
                                                     note = if (is.null(chosen())) "shopper sessions started" else chosen()))
    output$kpi_conversion <- renderUI({
      now <- converted_sessions(of_chosen(channels()))
      then <- before(function() converted_sessions(of_chosen(previous_channels())))
      kpi_rate_value(now$converted, now$sessions, then$converted, then$sessions, compare = compare(),
                     note = "sessions with a purchase")
    })

    # A click on a channel's bar filters the page by it; a second click on it shows every channel.
    observeEvent(input$channel_chart_click, {
      clicked <- input$channel_chart_click
      updateSelectInput(session, "channel", selected = if (identical(input$channel, clicked)) ALL_CHOICE else clicked)
    })

    output$channel_chart <- render_chart({
      df <- channels()
      df <- df[df$sessions > 0, ]
      chart_bars(df$channel, df$sessions, chart_unit("count", "sessions", "sessions"), horizontal = TRUE,
                 selected = if (!identical(input$channel, ALL_CHOICE)) input$channel,
                 category_label = "channel", empty = "No sessions in the selected period.")
    })

    output$revenue_chart <- render_chart({
      df <- attributed(channels(), input$attribution)
      df <- df[df$orders > 0, ]
      df <- df[order(-df$revenue, df$channel), ]
      model <- tolower(names(ATTRIBUTIONS)[ATTRIBUTIONS == input$attribution])
      chart_bars(df$channel, df$revenue, chart_unit("money", paste("revenue,", model), "revenue"),
                 horizontal = TRUE, clickable = FALSE, category_label = "channel",
                 empty = "No purchases in the selected period.")
    })

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

    # The filters as they go in the URL (app.R).
    reactive(list(attribution = input$attribution, channel = input$channel))
  })
}

# Sessions and sessions with a purchase, summed over dashboard.channels() rows.
converted_sessions <- function(df) {
  list(sessions = sum(df$sessions), converted = round(sum(as.numeric(df$conversion_rate) * df$sessions, na.rm = TRUE)))
}
