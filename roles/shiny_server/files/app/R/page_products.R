# Page 3: product engagement - top products by views, add-to-cart rate, purchases, and revenue:
# booked (the shop's orders) as the headline, tracked (purchase events) beside it.

products_ui <- function(id, state) {
  ns <- NS(id)
  tagList(
    filter_bar(paste("Product events by UTC day; bots excluded. Booked revenue: the items of the shop's",
                                "paid, shipped or delivered orders, by order day; tracked: the purchase events' items."),
               url_select(ns("category"), "Category", url_filter(state, "products", "category"), width = "180px"),
               url_select(ns("brand"), "Brand", url_filter(state, "products", "brand"), width = "180px")),
    static_ui(ns("body"), tagList(
      layout_column_wrap(
        width = 1 / 4, fill = FALSE, class = "kpi-row",
        kpi_box("Product views", ns("kpi_views"), "eye"),
        kpi_box("Add-to-cart rate", ns("kpi_cart_rate"), "cart-plus", "teal"),
        kpi_box("Purchases", ns("kpi_purchases"), "bag-shopping", "success"),
        kpi_box("Booked revenue", ns("kpi_revenue"), "sack-dollar", "warning")
      ),
      card(full_screen = TRUE, card_header("Top products"), DT::DTOutput(ns("products"))),
      card(full_screen = TRUE, card_header("Booked revenue by category",
                                           tags$small(class = "text-muted ms-2", "click a bar to filter the page by it")),
           chart_output(ns("categories"), "260px", label = "Booked and tracked revenue by category"))
    ))
  )
}

products_server <- function(id, db, shared) {
  moduleServer(id, function(input, output, session) {
    range <- shared$range
    # Filter choices follow the date range; a chosen value stays selected while it still exists.
    observeEvent(range(), {
      f <- q_product_filters(db, range()[1], range()[2])
      keep <- function(current, choices) if (!is.null(current) && current %in% choices) current else ALL_CHOICE
      cats <- c(ALL_CHOICE, sort(unique(f$category)))
      brands <- c(ALL_CHOICE, sort(unique(f$brand)))
      updateSelectInput(session, "category", choices = cats, selected = keep(input$category, cats))
      updateSelectInput(session, "brand", choices = brands, selected = keep(input$brand, brands))
    })
    compare <- shared$compare
    summary <- reactive(q_product_summary(db, range()[1], range()[2], input$category, input$brand))
    # The same filters over the period of the same length just before (queried only when comparing).
    previous_summary <- reactive({
      p <- previous_period(range()[1], range()[2])
      q_product_summary(db, p$from, p$to, input$category, input$brand)
    })
    before <- function(name) if (compare()) previous_summary()[[name]]
    top <- reactive(q_product_engagement(db, range()[1], range()[2], input$category, input$brand, 25))
    cats <- reactive(q_category_engagement(db, range()[1], range()[2], input$brand))

    output$kpi_views <- renderUI(kpi_change_value(summary()$views, before("views"), compare = compare(),
                                                  note = paste(fmt_int(summary()$products), "products")))
    # Add-to-carts per view: a ratio of events (a view can be followed by several add-to-carts), not a
    # share of trials, so its change is in points without a Wilson interval.
    output$kpi_cart_rate <- renderUI(kpi_change_value(summary()$add_to_cart_rate, before("add_to_cart_rate"),
                                                      fmt_pct, kind = "points", compare = compare(),
                                                      note = "add-to-carts per view"))
    output$kpi_purchases <- renderUI(kpi_change_value(summary()$purchases, before("purchases"), compare = compare(),
                                                      note = paste(fmt_int(summary()$units), "units")))
    output$kpi_revenue <- renderUI({
      s <- summary()
      booked_revenue_value(s$booked_revenue, s$revenue, s$booked_orders, before("booked_revenue"), compare())
    })

    output$products <- DT::renderDT({
      df <- top()
      validate(need(nrow(df) > 0, "No product activity for these filters."))
      out <- data.frame(Product = df$product_name, ID = df$product_id, Category = df$category, Brand = df$brand,
                        Views = df$views, `Add to cart` = df$add_to_carts, `Add-to-cart rate` = df$add_to_cart_rate,
                        Purchases = df$purchases, Units = df$units, `Tracked revenue` = df$revenue,
                        `Booked units` = df$booked_units, `Booked revenue` = df$booked_revenue,
                        check.names = FALSE)
      DT::datatable(out, rownames = FALSE, class = "compact hover", selection = "none",
                    options = list(pageLength = 10, dom = "tip", order = list(list(4, "desc")))) |>
        DT::formatRound(c("Views", "Add to cart", "Purchases", "Units", "Booked units"), digits = 0) |>
        DT::formatPercentage("Add-to-cart rate", digits = 1) |>
        DT::formatCurrency(c("Tracked revenue", "Booked revenue"), currency = "$", digits = 2)
    })

    # Booked and tracked revenue per category (of the brand chosen; every category, so that a
    # click on another bar filters by it, the chosen one solid and the others faded).
    output$categories <- render_chart({
      df <- cats()
      validate(need(nrow(df) > 0, "No product activity in the selected period."))
      chart_bars(df$category, list(Booked = as.numeric(df$booked_revenue), Tracked = as.numeric(df$revenue)),
                 chart_unit("money", "revenue", "revenue"), horizontal = TRUE,
                 selected = if (!identical(input$category, ALL_CHOICE)) input$category,
                 category_label = "category", empty = "No product activity in the selected period.")
    })
    # A click on a category's bar filters the page by it; on the chosen one, every category again.
    # "(none)" (items no event described, e.g. a gift card) is not a category to filter by.
    observeEvent(input$categories_click, {
      clicked <- input$categories_click
      if (identical(input$category, clicked)) {
        updateSelectInput(session, "category", selected = ALL_CHOICE)
      } else if (clicked %in% cats()$category && !identical(clicked, "(none)")) {
        updateSelectInput(session, "category", selected = clicked)
      }
    })

    # The filters as they go in the URL (app.R).
    reactive(list(category = input$category, brand = input$brand))
  })
}
