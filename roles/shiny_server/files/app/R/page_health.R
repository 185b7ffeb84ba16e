# Page 5: data health - events loaded per hour, rejects by reason, the last ETL run and its lag.

health_ui <- function(id, range) {
  ns <- NS(id)
  tagList(
    filter_bar(ns, range, "What the hourly ETL runs loaded and rejected, by the hour they ran (UTC)."),
    layout_column_wrap(
      width = 1 / 4, fill = FALSE, class = "kpi-row",
      kpi_box("Last ETL run", ns("kpi_last_run"), "rotate"),
      kpi_box("Since last successful run", ns("kpi_lag"), "hourglass-half", "info"),
      kpi_box("Events loaded", ns("kpi_loaded"), "database", "teal"),
      kpi_box("Rejected lines", ns("kpi_rejected"), "triangle-exclamation", "danger")
    ),
    card(full_screen = TRUE, card_header("Events loaded per hour"), plotOutput(ns("loaded"), height = "260px")),
    layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      card(card_header("Rejects by reason"), uiOutput(ns("rejects"))),
      card(card_header("Last ETL run"), uiOutput(ns("last_run")))
    )
  )
}

health_server <- function(id, db) {
  moduleServer(id, function(input, output, session) {
    # The run status and lag move on their own: refresh them every minute.
    tick <- reactiveTimer(60000)
    last_run <- reactive({
      tick()
      q_etl_last_run(db)
    })
    summary <- reactive(q_etl_summary(db, input$range[1], input$range[2]))

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

    output$loaded <- renderPlot({
      df <- q_etl_loaded_hourly(db, input$range[1], input$range[2])
      validate(need(nrow(df) > 0, "Nothing was loaded for the selected period."))
      long <- long_series(df, "hour", c(events = "Events loaded", rejected = "Rejected lines"))
      ggplot2::ggplot(long, ggplot2::aes(x, value, fill = series)) +
        ggplot2::geom_col(width = 2400) +
        ggplot2::scale_fill_manual(values = unname(PALETTE[c("teal", "rose")])) +
        ggplot2::scale_y_continuous(labels = label_int) +
        ggplot2::labs(x = "hour of the run (UTC)", y = "per hour") +
        theme_dash()
    }, res = 96)

    output$rejects <- renderUI({
      df <- q_etl_rejects_by_reason(db, input$range[1], input$range[2])
      if (nrow(df) == 0) return(empty_state("No rejected lines in the selected period.", "All input was valid."))
      df$last_seen <- fmt_time(df$last_seen)
      data_table(df, list(reason = col("Reason"), rejects = col("Lines", fmt_int), files = col("Files", fmt_int),
                          last_seen = col("Last seen")),
                 id = session$ns("rejects_table"))
    })

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
  })
}
