# Page: retention - weekly cohorts (ISO weeks, Monday, UTC): the visitors whose first session
# started in a week, and the share of them back in each later week.

retention_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar(paste("Cohorts whose week starts in the range; a week that ends after the range is",
                                "left out. Bots excluded."),
               selectInput(ns("weeks"), "Weeks after", choices = c(4, 8, 12), width = "120px",
                           selected = url_filter(state, "retention", "weeks", "8"), selectize = FALSE)),
    static_ui(ns("body"), tagList(
      card(full_screen = TRUE, card_header("Share of each cohort active, by week since the first visit"),
           chart_output(ns("heatmap"), "360px", label = "Weekly retention by cohort")),
      card(card_header("Cohorts"), uiOutput(ns("table")))
    ))
  )
}

retention_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    rows <- reactive(q_retention_weekly(db, range()[1], range()[2], input$weeks))
    empty <- "No complete cohort week in the range: widen it to at least one whole week (Monday to Sunday)."

    output$heatmap <- render_chart({
      df <- rows()
      validate(need(nrow(df) > 0, empty))
      chart_heatmap(format(as.Date(df$cohort_week)), paste("week", df$week_offset), as.numeric(df$retention),
                    count = df$active_visitors, row_total = df$cohort_size, row_label = "cohort week",
                    column_label = "weeks since the first visit", empty = empty)
    })

    output$table <- renderUI({
      df <- rows()
      if (nrow(df) == 0) return(empty_state(empty))
      wide <- unique(df[, c("cohort_week", "cohort_size")])
      for (k in sort(unique(df$week_offset))) {
        at <- df[df$week_offset == k, ]
        wide[[paste0("week_", k)]] <- as.numeric(at$retention[match(wide$cohort_week, at$cohort_week)])
      }
      wide$cohort_week <- format(as.Date(wide$cohort_week))
      columns <- list(cohort_week = col("Cohort week"), cohort_size = col("Visitors", fmt_int))
      for (k in sort(unique(df$week_offset))) columns[[paste0("week_", k)]] <- col(paste("Week", k), fmt_pct)
      data_table(wide, columns, id = session$ns("cohorts_table"))
    })

    # The filters as they go in the URL (app.R).
    reactive(list(weeks = input$weeks))
  })
}
