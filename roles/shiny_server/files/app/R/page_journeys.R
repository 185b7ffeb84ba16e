# Page 4: user journeys - the most common event paths within sessions, entry and exit pages.

journeys_ui <- function(id, state) {
  ns <- NS(id)
  static_ui(ns("body"), tagList(
    filter_bar(paste("Every session, by the UTC day it started; bots excluded. Repeated events",
                     "in a row count once.")),
    layout_column_wrap(
      width = 1 / 4, fill = FALSE, class = "kpi-row",
      kpi_box("Sessions", ns("kpi_sessions"), "window-restore"),
      kpi_box("Events per session", ns("kpi_events"), "list-ol", "teal"),
      kpi_box("Avg. session length", ns("kpi_duration"), "clock", "info"),
      kpi_box("Bounce rate", ns("kpi_bounce"), "right-from-bracket", "warning")
    ),
    card(full_screen = TRUE,
         card_header("Where sessions go next, step by step",
                     tags$small(class = "text-muted ms-2", "every session's first five steps; hover a link for its sessions")),
         chart_output(ns("flow"), "420px", label = "Journeys: sessions flowing from each step to the next",
                      png_name = "journeys-flow")),
    card(full_screen = TRUE, card_header("Most common paths"), uiOutput(ns("paths"))),
    layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      card(card_header("Entry pages"), uiOutput(ns("entry"))),
      card(card_header("Exit pages"), uiOutput(ns("exit")))
    )
  ))
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

    # Every session's first five steps as a Sankey: a node is an event at a step (so a repeated
    # event does not form a cycle), a link the sessions that went from one to the next, "(exit)"
    # where they ended; a session longer than five steps stops at its fifth without an exit.
    output$flow <- render_chart({
      df <- transitions()
      chart_sankey(df$from_event, df$to_event, as.numeric(df$sessions), step = df$step_no,
                   unit = chart_unit("count", "sessions", "sessions"),
                   empty = "No sessions in the selected period.")
    })

    NULL  # no filters of its own in the URL
  })
}
