# Page 4: user journeys - the most common event paths within sessions, entry and exit pages.

journeys_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar(paste("Every session, by the UTC day it started; bots excluded. Repeated events",
                     "in a row count once.")),
    layout_column_wrap(
      width = 1 / 4, fill = FALSE, class = "kpi-row",
      kpi_box("Sessions", ns("kpi_sessions"), "window-restore"),
      kpi_box("Events per session", ns("kpi_events"), "list-ol", "teal"),
      kpi_box("Avg. session length", ns("kpi_duration"), "clock", "info"),
      kpi_box("Bounce rate", ns("kpi_bounce"), "right-from-bracket", "warning")
    ),
    card(full_screen = TRUE, card_header("Where sessions go next, step by step"), plotOutput(ns("flow"), height = "300px")),
    card(full_screen = TRUE, card_header("Most common paths"), uiOutput(ns("paths"))),
    layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      card(card_header("Entry pages"), uiOutput(ns("entry"))),
      card(card_header("Exit pages"), uiOutput(ns("exit")))
    )
  )
}

journeys_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    summary <- reactive(q_journey_summary(db, range()[1], range()[2]))
    paths <- reactive(q_journey_paths(db, range()[1], range()[2], 15))
    transitions <- reactive(q_journey_transitions(db, range()[1], range()[2], 5))

    output$kpi_sessions <- renderUI(kpi_value(summary()$sessions, note = "every session analysed"))
    output$kpi_events <- renderUI(kpi_value(summary()$avg_events, function(x) fmt_num(x, 1)))
    output$kpi_duration <- renderUI(kpi_value(summary()$avg_duration_s, fmt_duration))
    output$kpi_bounce <- renderUI(kpi_value(summary()$bounce_rate, fmt_pct, note = "sessions with one event"))

    output$paths <- renderUI({
      df <- paths()
      if (nrow(df) == 0) return(empty_state("No sessions in the selected period."))
      data_table(df, list(path = col("Path"), sessions = col("Sessions", fmt_int), share = col("Share", fmt_pct),
                          purchase_rate = col("Ended in a purchase", fmt_pct)),
                 id = session$ns("paths_table"))
    })

    pages <- reactive(q_journey_pages(db, range()[1], range()[2], 10))
    page_table <- function(kind, id) {
      df <- pages()
      df <- df[df$kind == kind, , drop = FALSE]
      if (nrow(df) == 0) return(empty_state("No sessions in the selected period."))
      data_table(df, list(page = col("Page"), sessions = col("Sessions", fmt_int), share = col("Share", fmt_pct)),
                 id = session$ns(id))
    }
    output$entry <- renderUI(page_table("entry", "entry_table"))
    output$exit <- renderUI(page_table("exit", "exit_table"))

    flow_colors <- function(events) {
      base <- unname(PALETTE[c("primary", "teal", "violet", "amber", "rose", "slate")])
      colors <- rep_len(base, length(events))
      colors[events == "(exit)"] <- "#cbd5e1"
      stats::setNames(colors, events)
    }

    # Step-by-step flow: for each step, the sessions per next event (a Sankey's content as bars).
    output$flow <- renderPlot({
      df <- transitions()
      validate(need(nrow(df) > 0, "No sessions in the selected period."))
      df$step <- factor(paste0("Step ", df$step_no, ": ", df$from_event),
                        levels = rev(unique(paste0("Step ", df$step_no, ": ", df$from_event))))
      df$next_event <- factor(df$to_event, levels = unique(c(setdiff(df$to_event, "(exit)"), "(exit)")))
      ggplot2::ggplot(df, ggplot2::aes(step, sessions, fill = next_event)) +
        ggplot2::geom_col(width = 0.7) +
        ggplot2::coord_flip() +
        ggplot2::scale_fill_manual(values = flow_colors(levels(df$next_event))) +
        ggplot2::scale_y_continuous(labels = label_int) +
        ggplot2::labs(x = NULL, y = "sessions", fill = "next event") +
        theme_dash()
    }, res = 96)

    NULL  # no filters of its own in the URL
  })
}
