# Page: retention - weekly cohorts (ISO weeks, Monday, UTC): the visitors whose first session
# started in a week, and the share of them back in each later week.

retention_ui <- function(id, range) {
  ns <- NS(id)
  tagList(
    filter_bar(ns, range, paste("Cohorts whose week starts in the range; a week that ends after the range is",
                                "left out. Bots excluded."),
               selectInput(ns("weeks"), "Weeks after", choices = c(4, 8, 12), selected = 8, width = "120px")),
    card(full_screen = TRUE, card_header("Share of each cohort active, by week since the first visit"),
         plotOutput(ns("heatmap"), height = "360px")),
    card(card_header("Cohorts"), uiOutput(ns("table")))
  )
}

retention_server <- function(id, db) {
  moduleServer(id, function(input, output, session) {
    rows <- reactive(q_retention_weekly(db, input$range[1], input$range[2], input$weeks))
    empty <- "No complete cohort week in the range: widen it to at least one whole week (Monday to Sunday)."

    output$heatmap <- renderPlot({
      df <- rows()
      validate(need(nrow(df) > 0, empty))
      df$cohort <- factor(paste0(format(as.Date(df$cohort_week)), "  (", fmt_int(df$cohort_size), ")"))
      df$cohort <- factor(df$cohort, levels = rev(levels(df$cohort)))
      ggplot2::ggplot(df, ggplot2::aes(factor(week_offset), cohort, fill = as.numeric(retention))) +
        ggplot2::geom_tile(colour = "white", linewidth = 0.6) +
        ggplot2::geom_text(ggplot2::aes(label = fmt_pct(retention, 0)), size = 3.4, colour = "#0f172a") +
        ggplot2::scale_fill_gradient(low = "#eff6ff", high = "#2563eb", limits = c(0, 1), labels = label_pct) +
        ggplot2::labs(x = "weeks since the first visit", y = "cohort week (visitors)", fill = "active") +
        theme_dash() +
        ggplot2::theme(panel.grid.major.y = ggplot2::element_blank())
    }, res = 96)

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
  })
}
