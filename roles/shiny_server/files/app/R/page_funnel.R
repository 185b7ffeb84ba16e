# Page 2: conversion funnel - sessions reaching each step and the step conversion rates.

STEP_LABELS <- c(page_view = "Page view", product_view = "Product view", add_to_cart = "Add to cart",
                 begin_checkout = "Checkout", purchase = "Purchase")

funnel_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar("Sessions (by the UTC day they started) that reached each step; bots excluded.",
               segment_filter_inputs(ns, state, "funnel")),
    static_ui(ns("body"), tagList(
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
        card(full_screen = TRUE, card_header("Funnel"),
             chart_output(ns("funnel_chart"), "280px", label = "Sessions reaching each funnel step")),
        card(card_header("Steps"), uiOutput(ns("steps")))
      ),
      card(full_screen = TRUE, card_header("Conversion rate per day", tags$small(class = "text-muted ms-2",
                                                                               "scroll or drag to zoom")),
           chart_output(ns("daily"), "240px", label = "Conversion rate per day"))
    ))
  )
}

funnel_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    compare <- shared$compare
    # The page filters (channel, device type, country): the steps and days of their sessions; the
    # shop's booked orders carry no segment, so booked revenue and coverage are then not shown.
    seg <- segment_filter_server(input, session, db, range)
    segment <- seg$segment
    filtered <- seg$filtered
    steps <- reactive(q_funnel(db, range()[1], range()[2], segment()))
    daily <- reactive(q_funnel_daily(db, range()[1], range()[2], segment()))
    revenue <- reactive(revenue_totals(q_revenue_reconciliation(db, range()[1], range()[2])))
    # The same figures for the period of the same length just before (queried only when comparing).
    previous <- reactive(previous_period(range()[1], range()[2]))
    previous_steps <- reactive(q_funnel(db, previous()$from, previous()$to, segment()))
    previous_daily <- reactive(q_funnel_daily(db, previous()$from, previous()$to, segment()))
    no_segment <- "booked orders carry no channel, device type or country"
    previous_revenue <- reactive(revenue_totals(q_revenue_reconciliation(db, previous()$from, previous()$to)))
    step_sessions <- function(df, name) df$sessions[df$step == name]
    # A figure of the previous period, NULL when not comparing.
    before <- function(f) if (compare()) f()

    output$kpi_booked <- renderUI({
      if (filtered()) return(kpi_value(NA, note = no_segment))
      r <- revenue()
      kpi_change_value(r$booked_revenue, before(function() previous_revenue()$booked_revenue), fmt_money,
                       compare = compare(),
                       note = paste(fmt_int(r$booked_orders), "orders paid, shipped or delivered"))
    })
    output$kpi_tracked <- renderUI({
      if (filtered()) {
        return(kpi_change_value(sum(as.numeric(daily()$revenue)), before(function() sum(as.numeric(previous_daily()$revenue))),
                                fmt_money, compare = compare(), note = "of these sessions' purchases"))
      }
      r <- revenue()
      kpi_change_value(r$tracked_revenue, before(function() previous_revenue()$tracked_revenue), fmt_money,
                       compare = compare(), note = paste(fmt_int(r$unbooked), "purchases without a shop order"))
    })
    # Coverage: booked orders a browser also reported, of the booked orders.
    output$kpi_coverage <- renderUI({
      if (filtered()) return(kpi_value(NA, note = no_segment))
      r <- revenue()
      p <- before(previous_revenue)
      kpi_rate_value(r$covered, r$booked_orders, p$covered, p$booked_orders, compare = compare(),
                     note = paste(fmt_int(r$covered), "of", fmt_int(r$booked_orders), "booked orders tracked"))
    })

    output$kpi_sessions <- renderUI(kpi_change_value(sum(daily()$sessions),
                                                     before(function() sum(previous_daily()$sessions)),
                                                     compare = compare(), note = "all sessions started"))
    output$kpi_purchases <- renderUI(kpi_change_value(step_sessions(steps(), "purchase"),
                                                      before(function() step_sessions(previous_steps(), "purchase")),
                                                      compare = compare()))
    # Conversion: sessions with a purchase of the sessions with a page view (the funnel's first step).
    output$kpi_conversion <- renderUI({
      p <- before(previous_steps)
      kpi_rate_value(step_sessions(steps(), "purchase"), step_sessions(steps(), "page_view"),
                     if (!is.null(p)) step_sessions(p, "purchase"), if (!is.null(p)) step_sessions(p, "page_view"),
                     compare = compare(), note = "of sessions with a page view")
    })
    # Abandonment: carts without a purchase, of the sessions with an add-to-cart; a fall is good.
    abandoned <- function(df) max(step_sessions(df, "add_to_cart") - step_sessions(df, "purchase"), 0)
    output$kpi_abandonment <- renderUI({
      p <- before(previous_steps)
      kpi_rate_value(abandoned(steps()), step_sessions(steps(), "add_to_cart"),
                     if (!is.null(p)) abandoned(p), if (!is.null(p)) step_sessions(p, "add_to_cart"),
                     higher_is_better = FALSE, compare = compare(), note = "carts without a purchase")
    })

    # Each step's sessions, with its share of the first step and of the step before (hover).
    output$funnel_chart <- render_chart({
      df <- steps()
      chart_funnel(unname(STEP_LABELS[df$step]), as.numeric(df$sessions),
                   empty = "No sessions in the selected period.")
    })

    output$steps <- renderUI({
      df <- steps()
      if (sum(df$sessions) == 0) return(empty_state("No sessions in the selected period."))
      df$label <- unname(STEP_LABELS[df$step])
      data_table(df, list(label = col("Step"), sessions = col("Sessions", fmt_int),
                          step_rate = col("From previous step", fmt_pct),
                          overall_rate = col("From first step", fmt_pct)),
                 id = session$ns("steps_table"))
    })

    # Sessions with a purchase of the sessions started each day (unrounded, as the value boxes).
    output$daily <- render_chart({
      df <- daily()
      validate(need(nrow(df) > 0, "No sessions in the selected period."))
      rate <- ifelse(df$sessions > 0, as.numeric(df$purchase_sessions) / as.numeric(df$sessions), NA_real_)
      chart_timeseries(as.Date(df$day), list("Conversion rate" = rate),
                       chart_unit("percent", "sessions with a purchase", "of sessions started"), grain = "day",
                       empty = "No purchases in the selected period.")
    })

    # The filters as they go in the URL (app.R).
    segment
  })
}
