# Page 2: conversion funnel - sessions reaching each step and the step conversion rates.

STEP_LABELS <- c(page_view = "Page view", product_view = "Product view", add_to_cart = "Add to cart",
                 begin_checkout = "Checkout", purchase = "Purchase")

funnel_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar("Sessions (by the UTC day they started) that reached each step; bots excluded."),
    layout_column_wrap(
      width = 1 / 4, fill = FALSE, class = "kpi-row",
      kpi_box("Sessions", ns("kpi_sessions"), "window-restore"),
      kpi_box("Sessions with a purchase", ns("kpi_purchases"), "bag-shopping", "success"),
      kpi_box("Conversion rate", ns("kpi_conversion"), "percent", "teal"),
      kpi_box("Cart abandonment", ns("kpi_abandonment"), "cart-arrow-down", "warning")
    ),
    # Revenue: the shop's booked orders are the headline, what browsers reported beside them.
    layout_column_wrap(
      width = 1 / 3, fill = FALSE, class = "kpi-row",
      kpi_box("Booked revenue", ns("kpi_booked"), "sack-dollar", "success"),
      kpi_box("Tracked revenue", ns("kpi_tracked"), "chart-line", "info"),
      kpi_box("Tracking coverage", ns("kpi_coverage"), "binoculars", "teal")
    ),
    layout_column_wrap(
      width = 1 / 2, fill = FALSE,
      card(full_screen = TRUE, card_header("Funnel"), plotOutput(ns("funnel_chart"), height = "280px")),
      card(card_header("Steps"), uiOutput(ns("steps")))
    ),
    card(full_screen = TRUE, card_header("Conversion rate per day"),
         plotOutput(ns("daily"), height = "220px"))
  )
}

funnel_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    steps <- reactive(q_funnel(db, range()[1], range()[2]))
    daily <- reactive(q_funnel_daily(db, range()[1], range()[2]))
    step_sessions <- function(name) {
      df <- steps()
      df$sessions[df$step == name]
    }

    revenue <- reactive(revenue_totals(q_revenue_reconciliation(db, range()[1], range()[2])))
    output$kpi_booked <- renderUI({
      r <- revenue()
      kpi_value(r$booked_revenue, fmt_money, note = paste(fmt_int(r$booked_orders), "orders paid, shipped or delivered"))
    })
    output$kpi_tracked <- renderUI({
      r <- revenue()
      kpi_value(r$tracked_revenue, fmt_money, note = paste(fmt_int(r$unbooked), "purchases without a shop order"))
    })
    output$kpi_coverage <- renderUI({
      r <- revenue()
      kpi_value(r$coverage, fmt_pct, note = paste(fmt_int(r$covered), "of", fmt_int(r$booked_orders),
                                                  "booked orders tracked"))
    })

    output$kpi_sessions <- renderUI(kpi_value(sum(daily()$sessions), note = "all sessions started"))
    output$kpi_purchases <- renderUI(kpi_value(step_sessions("purchase")))
    output$kpi_conversion <- renderUI({
      df <- steps()
      kpi_value(df$overall_rate[df$step == "purchase"], fmt_pct, note = "of sessions with a page view")
    })
    output$kpi_abandonment <- renderUI({
      cart <- step_sessions("add_to_cart")
      kpi_value(if (cart > 0) 1 - step_sessions("purchase") / cart else NA, fmt_pct,
                note = "carts without a purchase")
    })

    output$funnel_chart <- renderPlot({
      df <- steps()
      validate(need(sum(df$sessions) > 0, "No sessions in the selected period."))
      hbar_chart(factor(unname(STEP_LABELS[df$step]), levels = rev(unname(STEP_LABELS))), df$sessions,
                 paste0(fmt_int(df$sessions), "  (", fmt_pct(df$overall_rate), ")"),
                 fill = PALETTE[["primary"]], value_labels = label_int, value_title = "sessions")
    }, res = 96)

    output$steps <- renderUI({
      df <- steps()
      if (sum(df$sessions) == 0) return(empty_state("No sessions in the selected period."))
      df$label <- unname(STEP_LABELS[df$step])
      data_table(df, list(label = col("Step"), sessions = col("Sessions", fmt_int),
                          step_rate = col("From previous step", fmt_pct),
                          overall_rate = col("From first step", fmt_pct)),
                 id = session$ns("steps_table"))
    })

    output$daily <- renderPlot({
      df <- daily()
      validate(need(nrow(df) > 0, "No sessions in the selected period."))
      ggplot2::ggplot(df, ggplot2::aes(day, conversion_rate)) +
        ggplot2::geom_line(colour = PALETTE[["rose"]], linewidth = 0.9) +
        ggplot2::geom_point(colour = PALETTE[["rose"]], size = 2.2) +
        ggplot2::scale_y_continuous(labels = label_pct, limits = c(0, NA)) +
        ggplot2::labs(x = "day (UTC)", y = "sessions with a purchase") +
        theme_dash()
    }, res = 96)

    NULL  # no filters of its own in the URL
  })
}
