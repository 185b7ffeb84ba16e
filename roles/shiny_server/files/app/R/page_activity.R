# Page 1: activity trends - events, users and sessions per hour and per day, and the period's booked
# revenue (the shop's orders) with the tracked revenue beside it.

activity_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar("Traffic of real shoppers (bots excluded), per UTC hour and day."),
    layout_column_wrap(
      width = 1 / 5, fill = FALSE, class = "kpi-row",
      kpi_box("Booked revenue", ns("kpi_booked"), "sack-dollar", "success"),
      kpi_box("Events", ns("kpi_events"), "bolt"),
      kpi_box("Sessions", ns("kpi_sessions"), "window-restore", "teal"),
      kpi_box("Peak users in an hour", ns("kpi_users"), "users", "info"),
      kpi_box("Busiest hour", ns("kpi_peak"), "chart-line", "warning")
    ),
    card(full_screen = TRUE, card_header("Per hour"), plotOutput(ns("hourly"), height = "300px")),
    card(full_screen = TRUE, card_header("Per day"),
         plotOutput(ns("daily_chart"), height = "240px"), uiOutput(ns("daily_table")))
  )
}

activity_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    compare <- shared$compare
    summary <- reactive(q_activity_summary(db, range()[1], range()[2]))
    hourly <- reactive(q_activity_hourly(db, range()[1], range()[2]))
    daily <- reactive(q_activity_daily(db, range()[1], range()[2]))
    revenue <- reactive(revenue_totals(q_revenue_reconciliation(db, range()[1], range()[2])))
    # The same figures for the period of the same length just before (queried only when comparing).
    previous <- reactive(previous_period(range()[1], range()[2]))
    previous_summary <- reactive(q_activity_summary(db, previous()$from, previous()$to))
    previous_revenue <- reactive(revenue_totals(q_revenue_reconciliation(db, previous()$from, previous()$to)))
    before <- function(figures, name) if (compare()) figures()[[name]]

    output$kpi_booked <- renderUI({
      r <- revenue()
      booked_revenue_value(r$booked_revenue, r$tracked_revenue, r$booked_orders,
                           before(previous_revenue, "booked_revenue"), compare())
    })

    output$kpi_events <- renderUI(kpi_change_value(summary()$events, before(previous_summary, "events"),
                                                   compare = compare()))
    output$kpi_sessions <- renderUI(kpi_change_value(summary()$sessions, before(previous_summary, "sessions"),
                                                     compare = compare()))
    output$kpi_users <- renderUI(kpi_change_value(summary()$peak_hour_users, before(previous_summary, "peak_hour_users"),
                                                  compare = compare(), note = "distinct browsers in the busiest hour"))
    output$kpi_peak <- renderUI({
      s <- summary()
      kpi_change_value(s$peak_hour_events, before(previous_summary, "peak_hour_events"), compare = compare(),
                       note = if (!is.na(s$peak_hour)) paste("events at", fmt_time(s$peak_hour)))
    })

    series <- c(events = "Events", sessions = "Sessions", users = "Users")
    daily_series <- c(events = "Events", sessions = "Sessions", users = "Users (distinct per day)")
    series_colors <- unname(PALETTE[c("primary", "teal", "amber")])

    output$hourly <- renderPlot({
      df <- hourly()
      validate(need(sum(df$events) > 0, "No activity in the selected period."))
      ggplot2::ggplot(long_series(df, "hour", series), ggplot2::aes(x, value, colour = series)) +
        ggplot2::geom_line(linewidth = 0.9) +
        ggplot2::scale_colour_manual(values = series_colors) +
        ggplot2::scale_y_continuous(labels = label_int, limits = c(0, NA)) +
        ggplot2::labs(x = "hour (UTC)", y = "per hour") +
        theme_dash()
    }, res = 96)

    output$daily_chart <- renderPlot({
      df <- daily()
      validate(need(sum(df$events) > 0, "No activity in the selected period."))
      ggplot2::ggplot(long_series(df, "day", daily_series), ggplot2::aes(x, value, fill = series)) +
        ggplot2::geom_col(position = ggplot2::position_dodge(width = 0.8), width = 0.75) +
        ggplot2::scale_fill_manual(values = series_colors) +
        ggplot2::scale_y_continuous(labels = label_int) +
        ggplot2::labs(x = "day (UTC)", y = "per day") +
        theme_dash()
    }, res = 96)

    output$daily_table <- renderUI({
      df <- daily()
      if (sum(df$events) == 0) return(empty_state("No activity in the selected period."))
      df$day <- format(df$day)
      data_table(df, list(day = col("Day (UTC)"), events = col("Events", fmt_int),
                          users = col("Users (distinct in the day)", fmt_int),
                          sessions = col("Sessions", fmt_int),
                          peak_hour_users = col("Peak hourly users", fmt_int)),
                 id = session$ns("daily"))
    })

    NULL  # no filters of its own in the URL
  })
}
