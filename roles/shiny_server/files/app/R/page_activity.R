# Page 1: overview and activity trends - the period's visitors (new and returning), sessions,
# events, booked orders and revenue (tracked revenue beside it) and conversion, each against the
# previous period; events, users and sessions per hour and per day as zoomable time series.

activity_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar(paste("Traffic of real shoppers (bots excluded), per UTC hour and day; sessions by the day they",
                     "started. Revenue: the shop's booked orders, with what browsers reported beside it.",
                     "Filtered: the sessions of that channel, device type and country, and their events."),
               segment_filter_inputs(ns, state, "activity")),
    static_ui(ns("body"), tagList(
      layout_column_wrap(
        width = 1 / 4, fill = FALSE, class = "kpi-row",
        kpi_box("Visitors", ns("kpi_visitors"), "users"),
        kpi_box("New visitors", ns("kpi_new"), "user-plus", "teal"),
        kpi_box("Sessions", ns("kpi_sessions"), "window-restore", "info"),
        kpi_box("Events", ns("kpi_events"), "bolt")
      ),
      layout_column_wrap(
        width = 1 / 5, fill = FALSE, class = "kpi-row",
        kpi_box("Orders", ns("kpi_orders"), "bag-shopping", "success"),
        kpi_box("Booked revenue", ns("kpi_booked"), "sack-dollar", "success"),
        kpi_box("Conversion rate", ns("kpi_conversion"), "percent", "teal"),
        kpi_box("Peak users in an hour", ns("kpi_users"), "users", "info"),
        kpi_box("Busiest hour", ns("kpi_peak"), "chart-line", "warning")
      ),
      card(full_screen = TRUE, card_header("Per hour", tags$small(class = "text-muted ms-2",
                                                                  "scroll or drag to zoom; hover for the figures")),
           chart_output(ns("hourly"), "300px", label = "Events, sessions and users per hour")),
      card(full_screen = TRUE, card_header("Per day"),
           chart_output(ns("daily_chart"), "260px", label = "Events, sessions and users per day"),
           uiOutput(ns("daily_table")))
    ))
  )
}

activity_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    compare <- shared$compare
    # The page filters (channel, device type, country): every figure below is of their sessions,
    # except what the warehouse does not keep by them (hours, the shop's booked orders).
    seg <- segment_filter_server(input, session, db, range)
    segment <- seg$segment
    filtered <- seg$filtered
    summary <- reactive(q_activity_summary(db, range()[1], range()[2], segment()))
    hourly <- reactive(q_activity_hourly(db, range()[1], range()[2]))
    daily <- reactive(q_activity_daily(db, range()[1], range()[2], segment()))
    visitors <- reactive(q_visitors(db, range()[1], range()[2], segment()))
    started <- reactive(started_sessions(q_funnel_daily(db, range()[1], range()[2], segment())))
    revenue <- reactive(revenue_totals(q_revenue_reconciliation(db, range()[1], range()[2])))
    # The same figures for the period of the same length just before (queried only when comparing).
    previous <- reactive(previous_period(range()[1], range()[2]))
    previous_summary <- reactive(q_activity_summary(db, previous()$from, previous()$to, segment()))
    previous_visitors <- reactive(q_visitors(db, previous()$from, previous()$to, segment()))
    previous_started <- reactive(started_sessions(q_funnel_daily(db, previous()$from, previous()$to, segment())))
    previous_revenue <- reactive(revenue_totals(q_revenue_reconciliation(db, previous()$from, previous()$to)))
    before <- function(figures, name) if (compare()) figures()[[name]]
    not_kept <- "not kept by channel, device type or country"

    output$kpi_visitors <- renderUI({
      v <- visitors()
      kpi_change_value(v$visitors, before(previous_visitors, "visitors"), compare = compare(),
                       note = tags$span(class = "visitor-note", `data-approximate` = tolower(isTRUE(v$approximate)),
                                        visitor_note(v)))
    })
    output$kpi_new <- renderUI({
      v <- visitors()
      kpi_change_value(v$new_visitors, before(previous_visitors, "new_visitors"), compare = compare(),
                       note = tagList(tags$span(class = "kpi-returning", `data-value` = raw_value(v$returning_visitors),
                                                fmt_int(v$returning_visitors)), " returning"))
    })
    # Sessions by the day they started (the conversion's base), events by their hour.
    output$kpi_sessions <- renderUI(kpi_change_value(started()$sessions, before(previous_started, "sessions"),
                                                     compare = compare(), note = "sessions started"))
    output$kpi_events <- renderUI(kpi_change_value(summary()$events, before(previous_summary, "events"),
                                                   compare = compare()))
    # Filtered: the shop's orders carry no channel, device or country, so the segment's tracked
    # purchases stand in, and say so.
    output$kpi_orders <- renderUI({
      if (filtered()) {
        return(kpi_change_value(started()$orders, before(previous_started, "orders"), compare = compare(),
                                note = "tracked purchases of these sessions (booked orders carry no segment)"))
      }
      r <- revenue()
      kpi_change_value(r$booked_orders, before(previous_revenue, "booked_orders"), compare = compare(),
                       note = paste(fmt_int(r$tracked_orders), "purchases tracked"))
    })
    output$kpi_booked <- renderUI({
      if (filtered()) {
        return(kpi_change_value(started()$revenue, before(previous_started, "revenue"), fmt_money, compare = compare(),
                                note = "tracked revenue of these sessions (booked orders carry no segment)"))
      }
      r <- revenue()
      booked_revenue_value(r$booked_revenue, r$tracked_revenue, r$booked_orders,
                           before(previous_revenue, "booked_revenue"), compare())
    })
    output$kpi_conversion <- renderUI({
      s <- started()
      p <- if (compare()) previous_started()
      kpi_rate_value(s$purchased, s$sessions, p$purchased, p$sessions, compare = compare(),
                     note = "sessions with a purchase")
    })
    output$kpi_users <- renderUI({
      if (filtered()) return(kpi_value(NA, note = paste("hours", not_kept)))
      kpi_change_value(summary()$peak_hour_users, before(previous_summary, "peak_hour_users"),
                       compare = compare(), note = "distinct browsers in the busiest hour")
    })
    output$kpi_peak <- renderUI({
      if (filtered()) return(kpi_value(NA, note = paste("hours", not_kept)))
      s <- summary()
      kpi_change_value(s$peak_hour_events, before(previous_summary, "peak_hour_events"), compare = compare(),
                       note = if (!is.na(s$peak_hour)) paste("events at", fmt_time(s$peak_hour)))
    })

    suffixes <- c(Events = "events", Sessions = "sessions", Users = "distinct browsers",
                  "Users (distinct per day)" = "distinct browsers")

    output$hourly <- render_chart({
      validate(need(!filtered(), paste("Hours are", not_kept, "- the per-day chart below is of the filtered sessions.")))
      df <- hourly()
      chart_timeseries(as.POSIXct(df$hour, tz = "UTC"),
                       list(Events = as.numeric(df$events), Sessions = as.numeric(df$sessions),
                            Users = as.numeric(df$users)),
                       chart_unit("count", "per hour"), grain = "hour",
                       suffixes = suffixes[c("Events", "Sessions", "Users")],
                       empty = "No activity in the selected period.")
    })

    output$daily_chart <- render_chart({
      df <- daily()
      chart_timeseries(as.Date(df$day),
                       list(Events = as.numeric(df$events), Sessions = as.numeric(df$sessions),
                            "Users (distinct per day)" = as.numeric(df$users)),
                       chart_unit("count", "per day"), grain = "day",
                       suffixes = suffixes[c("Events", "Sessions", "Users (distinct per day)")],
                       empty = "No activity in the selected period.")
    })

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

    # The filters as they go in the URL (app.R).
    segment
  })
}

# Sessions started in the range and those with a purchase, their orders and tracked revenue,
# summed over dashboard.funnel_daily().
started_sessions <- function(df) {
  list(sessions = sum(df$sessions), purchased = sum(df$purchase_sessions), orders = sum(df$orders),
       revenue = sum(as.numeric(df$revenue)))
}
