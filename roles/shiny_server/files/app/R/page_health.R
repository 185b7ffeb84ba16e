# Page 5: data health - events loaded per hour, rejects by reason, the last ETL run and its lag;
# data quality: flagged hours, restated days and bot traffic (dashboard/quality.sql).

health_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    static_ui(ns("body"), tagList(
      filter_bar("What the hourly ETL runs loaded and rejected, by the hour they ran (UTC)."),
      layout_column_wrap(
        width = 1 / 4, fill = FALSE, class = "kpi-row",
        kpi_box("Last ETL run", ns("kpi_last_run"), "rotate"),
        kpi_box("Since last successful run", ns("kpi_lag"), "hourglass-half", "info"),
        kpi_box("Events loaded", ns("kpi_loaded"), "database", "teal"),
        kpi_box("Rejected lines", ns("kpi_rejected"), "triangle-exclamation", "danger")
      ),
      card(full_screen = TRUE, card_header("Events loaded per hour"),
           chart_output(ns("loaded"), "260px", label = "Events loaded and lines rejected per hour of the ETL runs")),
      layout_column_wrap(
        width = 1 / 2, fill = FALSE,
        card(card_header("Rejects by reason"), uiOutput(ns("rejects"))),
        card(card_header("Last ETL run"), uiOutput(ns("last_run")))
      ),
      card(full_screen = TRUE,
           card_header("Bot traffic per hour", tags$small(class = "text-muted ms-2",
                       "excluded from every other figure; flagged hours marked")),
           chart_output(ns("bots"), "240px", label = "Share of the events from bots per hour"),
           uiOutput(ns("bots_flagged"))),
      layout_column_wrap(
        width = 1 / 2, fill = FALSE,
        card(card_header("Open anomalies", tags$small(class = "text-muted ms-2",
                         "hours outside the band of the same hour in earlier weeks")),
             uiOutput(ns("anomalies"))),
        card(card_header("Restated days", tags$small(class = "text-muted ms-2",
                         "figures changed in the period's last 7 days after their day had passed")),
             uiOutput(ns("restatements")))
      ),
      card(card_header("Tracking coverage", tags$small(class = "text-muted ms-2",
                       "the shop's booked orders that a browser also reported, per day of the order")),
           uiOutput(ns("coverage")))
    )),
    # The one input of the page, opening on the link's dimension.
    card(card_header("Tracking coverage by",
                     tags$div(class = "d-inline-block ms-2",
                              selectInput(ns("coverage_dimension"), NULL, width = "160px", selectize = FALSE,
                                          selected = url_filter(state, "health", "coverage_by", "channel"),
                                          choices = c("Channel" = "channel", "Device type" = "device_type",
                                                      "Browser" = "browser"))),
                     tags$small(class = "text-muted ms-2",
                                "of the purchasing session, or of the buyer's latest session for an untracked order")),
         uiOutput(ns("coverage_by")))
  )
}

health_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    # The run status and lag move on their own: refresh them every minute.
    tick <- reactiveTimer(60000)
    last_run <- reactive({
      tick()
      q_etl_last_run(db)
    })
    summary <- reactive(q_etl_summary(db, range()[1], range()[2]))

    output$kpi_last_run <- renderUI({
      r <- last_run()
      if (is.na(r$run_id)) return(kpi_value(NA, note = "no ETL run recorded yet"))
      tags$span(class = paste("kpi-value", "status", r$status), `data-value` = r$status,
                tools::toTitleCase(r$status), tags$div(class = "kpi-note", paste("started", fmt_time(r$started_at))))
    })
    output$kpi_lag <- renderUI({
      r <- last_run()
      kpi_value(r$lag_seconds, fmt_duration,
                note = if (!is.na(r$newest_hour)) paste("newest data hour", fmt_time(r$newest_hour)) else "nothing loaded yet")
    })
    output$kpi_loaded <- renderUI(kpi_value(summary()$events_loaded, note = paste(fmt_int(summary()$files), "files")))
    output$kpi_rejected <- renderUI({
      s <- summary()
      kpi_value(s$rejected, note = paste(fmt_int(s$runs), "runs,", fmt_int(s$failed_runs), "failed"))
    })

    # One bar pair per hour in which runs started (the runs' totals).
    output$loaded <- render_chart({
      df <- q_etl_loaded_hourly(db, range()[1], range()[2])
      validate(need(nrow(df) > 0, "Nothing was loaded for the selected period."))
      chart_bars(fmt_time(df$hour), list("Events loaded" = as.numeric(df$events), "Rejected lines" = as.numeric(df$rejected)),
                 chart_unit("count", "per hour", "lines"), clickable = FALSE, category_label = "hour of the runs (UTC)",
                 empty = "Nothing was loaded for the selected period.")
    })

    anomalies <- reactive(q_anomalies(db, range()[1], range()[2]))

    bots <- reactive(q_bot_share(db, range()[1], range()[2]))
    output$bots <- render_chart({
      df <- bots()
      validate(need(nrow(df) > 0, "No events in the selected period."))
      chart_timeseries(as.POSIXct(df$hour, tz = "UTC"), list("Bot share" = as.numeric(df$share)),
                       chart_unit("percent", "bot share", "of the hour's events"), grain = "hour",
                       empty = "No bot traffic in the selected period.")
    })
    # The hours an open anomaly flagged, under the chart (the anomalies table has their figures).
    output$bots_flagged <- renderUI({
      flagged <- anomalies()
      hours <- sort(unique(flagged$hour[flagged$open]))
      if (length(hours) == 0) return(NULL)
      tags$div(class = "kpi-note", id = session$ns("bots_flagged_hours"),
               paste("Flagged hours:", paste(fmt_time(hours), collapse = ", ")))
    })

    output$anomalies <- renderUI({
      df <- anomalies()
      df <- df[df$open, , drop = FALSE]
      if (nrow(df) == 0) return(empty_state("No open anomalies in the selected period.",
                                            "Every judged hour is within its band."))
      df$hour <- fmt_time(df$hour)
      df$band <- paste(fmt_num(df$lower_bound), "\u2013", fmt_num(df$upper_bound))
      data_table(df, list(hour = col("Hour"), metric = col("Metric"), observed = col("Observed", fmt_num),
                          expected = col("Expected", fmt_num), band = col("Band"), score = col("Score", fmt_num)),
                 id = session$ns("anomalies_table"))
    })

    output$restatements <- renderUI({
      # Restatements of the period's days made in the 7 days up to its end (today, on a current range).
      df <- q_restatements(db, range()[1], range()[2])
      range_end <- as.POSIXct(as.Date(range()[2]) + 1, tz = "UTC")
      df <- df[df$restated_at >= range_end - 7 * 86400, , drop = FALSE]
      if (nrow(df) == 0) return(empty_state("No figure of the period was restated in its last 7 days.",
                                            "Late events and backfills show up here."))
      df$day <- format(df$day)
      df$restated_at <- fmt_time(df$restated_at)
      df$change <- as.numeric(df$after) - as.numeric(df$before)
      data_table(df, list(day = col("Day"), figure = col("Figure"), before = col("Before", fmt_num),
                          after = col("After", fmt_num), change = col("Change", fmt_num),
                          restated_at = col("Restated")),
                 id = session$ns("restatements_table"))
    })

    output$coverage <- renderUI({
      df <- q_revenue_reconciliation(db, range()[1], range()[2])
      if (sum(df$booked_orders) + sum(df$tracked_orders) == 0) {
        return(empty_state("No booked orders and no tracked purchases in the selected period.",
                           "Booked revenue needs the ETL's OLTP_* settings (docs/warehouse-etl.md)."))
      }
      df$day <- format(df$day)
      data_table(df, list(day = col("Day"), booked_orders = col("Booked", fmt_int),
                          booked_revenue = col("Booked revenue", fmt_money),
                          tracked_revenue = col("Tracked revenue", fmt_money),
                          untracked_orders = col("Untracked", fmt_int),
                          unbooked_purchases = col("Unbooked", fmt_int),
                          refunded_revenue = col("Refunded", fmt_money),
                          coverage = col("Coverage", fmt_pct)),
                 id = session$ns("coverage_table"))
    })

    output$coverage_by <- renderUI({
      df <- q_tracking_coverage(db, range()[1], range()[2], input$coverage_dimension)
      if (nrow(df) == 0) return(empty_state("No booked orders in the selected period."))
      df$label <- ifelse(is.na(df$value), "(no session)", df$value)
      data_table(df, list(label = col("Value"), booked_orders = col("Booked", fmt_int),
                          matched_orders = col("Tracked", fmt_int), coverage = col("Coverage", fmt_pct)),
                 id = session$ns("coverage_by_table"))
    })

    output$rejects <- renderUI({
      df <- q_etl_rejects_by_reason(db, range()[1], range()[2])
      if (nrow(df) == 0) return(empty_state("No rejected lines in the selected period.", "All input was valid."))
      df$last_seen <- fmt_time(df$last_seen)
      data_table(df, list(reason = col("Reason"), rejects = col("Lines", fmt_int), files = col("Files", fmt_int),
                          last_seen = col("Last seen")),
                 id = session$ns("rejects_table"))
    })

    # The filters as they go in the URL (app.R).
    url_filters <- reactive(list(coverage_by = input$coverage_dimension))

    output$last_run <- renderUI({
      r <- last_run()
      if (is.na(r$run_id)) return(empty_state("No ETL run recorded yet.", "The hourly schedule starts the first one."))
      rows <- list(
        c("Run", paste0("#", r$run_id, " (", r$trigger, ")")),
        c("Status", tools::toTitleCase(r$status)),
        c("Started", fmt_time(r$started_at)),
        c("Finished", fmt_time(r$finished_at)),
        c("Files", fmt_int(r$files)),
        c("Events loaded", fmt_int(r$events_loaded)),
        c("Duplicates skipped", fmt_int(r$duplicates)),
        c("Rejected lines", fmt_int(r$rejected)),
        c("Error", if (is.na(r$error)) "\u2013" else r$error)
      )
      tags$table(id = session$ns("last_run_table"), class = "table table-sm dash-table",
                 tags$tbody(lapply(rows, function(x) tags$tr(tags$th(x[1]), tags$td(x[2])))))
    })
    url_filters
  })
}
