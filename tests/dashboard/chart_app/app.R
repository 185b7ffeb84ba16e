# A page of the dashboard app's chart and comparison helpers over fixed data (data.json): one
# chart of each kind, an empty and a validation state, value boxes with their change and a rate
# with its interval, a table with its CSV download. tests/dashboard/test_charts.py serves it
# with shiny::runApp (the working directory is this one) and drives it in headless Chromium.

suppressPackageStartupMessages({
  library(shiny)
  library(bslib)
})
Sys.setenv(TZ = "UTC")

# The app's helpers exactly as deployed: every file of its R/ (the formatters, data_table(), the
# chart and comparison helpers), with the app's www/ found through this option.
app_dir <- normalizePath(file.path("..", "..", "..", "roles", "shiny_server", "files", "app"))
options(clickstream.app_dir = app_dir)
for (f in list.files(file.path(app_dir, "R"), pattern = "\\.R$", full.names = TRUE)) source(f)

fixed <- jsonlite::fromJSON("data.json")

CHANNEL_COLUMNS <- list(channel = col("Channel"), sessions = col("Sessions", fmt_int),
                        change = col("Change"), conversion = col("Conversion", fmt_pct),
                        revenue = col("Revenue", fmt_money))

ui <- page_fluid(
  theme = bs_theme(version = 5),
  tags$h1(class = "h4 my-3", "Chart helpers"),
  layout_column_wrap(
    width = 1 / 3, fill = FALSE,
    value_box("Sessions", uiOutput("kpi_sessions")),
    value_box("Conversion rate", uiOutput("kpi_conversion")),
    value_box("Orders", uiOutput("kpi_orders")),
    value_box("Bounce rate", uiOutput("kpi_bounce"))
  ),
  card(card_header("Per hour"), chart_output("hourly", "280px", label = "Events and sessions per hour")),
  card(card_header("Revenue per day"), chart_output("daily", "240px", label = "Revenue per day")),
  layout_column_wrap(
    width = 1 / 2, fill = FALSE,
    card(card_header("Sessions by channel"),
         chart_output("channels", "260px", label = "Sessions by channel"),
         tags$p("Filtered by channel: ", textOutput("channels_clicked", inline = TRUE))),
    card(card_header("Conversion by device type"),
         chart_output("devices", "200px", label = "Conversion rate by device type"),
         tags$p("Filtered by device: ", textOutput("devices_clicked", inline = TRUE)))
  ),
  card(card_header("Funnel"), chart_output("funnel", "240px", label = "Conversion funnel")),
  card(card_header("Retention"), chart_output("retention", "320px", label = "Weekly retention by cohort")),
  card(card_header("Journeys"), chart_output("journeys", "340px", label = "Step-by-step journeys")),
  layout_column_wrap(
    width = 1 / 2, fill = FALSE,
    card(card_header("Nothing to show"), chart_output("nothing", "160px", label = "Sessions by referrer")),
    card(card_header("Waiting for a choice"), chart_output("waiting", "160px", label = "Trend of the chosen channel"))
  ),
  card(card_header(class = "d-flex justify-content-between align-items-center", "Channels",
                   csv_download_button("channels_csv")),
       uiOutput("channels_table"))
)

server <- function(input, output, session) {
  k <- fixed$kpis
  output$kpi_sessions <- renderUI(kpi_change_value(k$sessions, k$previous_sessions))
  output$kpi_conversion <- renderUI(kpi_rate_value(k$purchases, k$sessions, k$previous_purchases, k$previous_sessions))
  output$kpi_orders <- renderUI(kpi_change_value(k$orders, k$previous_orders))
  output$kpi_bounce <- renderUI(kpi_change_value(k$bounce_rate, k$previous_bounce_rate, fmt_pct, kind = "points",
                                                 higher_is_better = FALSE))

  output$hourly <- render_chart({
    h <- fixed$hourly
    chart_timeseries(as.POSIXct(h$hour, format = "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
                     list(Events = h$events, Sessions = h$sessions),
                     chart_unit("count", "per hour"), grain = "hour", area = TRUE)
  })
  output$daily <- render_chart(chart_timeseries(as.Date(fixed$daily$day), list(Revenue = fixed$daily$revenue),
                                                chart_unit("money", "revenue (USD)"), grain = "day"))

  ch <- fixed$channels
  output$channels <- render_chart(chart_bars(ch$channel, ch$sessions, chart_unit("count", "sessions", "sessions"),
                                             selected = input$channels_click))
  output$channels_clicked <- renderText(if (is.null(input$channels_click)) "none" else input$channels_click)
  output$devices <- render_chart(chart_bars(fixed$devices$device, fixed$devices$conversion,
                                            chart_unit("percent", "sessions with a purchase", "converted"),
                                            horizontal = TRUE))
  output$devices_clicked <- renderText(if (is.null(input$devices_click)) "none" else input$devices_click)

  output$funnel <- render_chart(chart_funnel(fixed$funnel$step, fixed$funnel$sessions))
  output$retention <- render_chart({
    r <- fixed$retention
    chart_heatmap(r$cohort, paste("week", r$week), r$share, r$active, r$size,
                  row_label = "cohort (week of first visit)", column_label = "weeks since the first visit")
  })
  output$journeys <- render_chart({
    j <- fixed$journeys
    chart_sankey(j$from, j$to, j$sessions, step = j$step)
  })
  output$nothing <- render_chart(chart_bars(character(), numeric(), empty = "No referrers in the selected period."))
  output$waiting <- render_chart({
    validate(need(FALSE, "Pick a channel to see its trend."))
  })

  channels <- reactive({
    df <- as.data.frame(ch[c("channel", "sessions", "conversion", "revenue")])
    df$change <- fmt_change(ch$sessions, ch$previous_sessions)
    df
  })
  output$channels_table <- renderUI(data_table(channels(), CHANNEL_COLUMNS, id = "channels_table"))
  output$channels_csv <- csv_download(channels, CHANNEL_COLUMNS, "channels")
}

shinyApp(ui, server)
