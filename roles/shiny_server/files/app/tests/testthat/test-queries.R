# The wrappers against a real warehouse holding the known data (raw events the ETL loaded); expected
# figures come from the plain-Python oracle over the same raw events (tests/dashboard/known_data.py).
expected <- jsonlite::fromJSON(Sys.getenv("CLICKSTREAM_TEST_EXPECTED"), simplifyVector = TRUE)
db <- db_handle()
withr::defer(db$close(), teardown_env())
from <- expected$from
to <- expected$to

test_that("activity summary and daily figures", {
  s <- q_activity_summary(db, from, to)
  expect_equal(s$events, expected$events)
  expect_equal(s$sessions, expected$sessions)
  expect_equal(s$peak_hour_users, expected$peak_hour_users)
  d <- q_activity_daily(db, from, to)
  expect_equal(format(d$day), expected$days)
  expect_equal(sum(d$events), expected$events)
  expect_equal(d$users, expected$daily_users)
  expect_s3_class(q_activity_hourly(db, from, to)$hour, "POSIXct")
})

test_that("the funnel has five steps with the expected sessions", {
  f <- q_funnel(db, from, to)
  expect_equal(f$step, c("page_view", "product_view", "add_to_cart", "begin_checkout", "purchase"))
  expect_equal(f$sessions, expected$funnel)
  expect_true(is.na(f$step_rate[1]))
  expect_equal(f$overall_rate[5], round(expected$funnel[5] / expected$funnel[1], 4))
})

test_that("product filters narrow the products and a hostile value is just a value", {
  all <- q_product_engagement(db, from, to, ALL_CHOICE, ALL_CHOICE, 50)
  expect_equal(sum(all$views), expected$product_views)
  laptops <- q_product_engagement(db, from, to, "Laptops", NULL, 50)
  expect_true(nrow(laptops) > 0)
  expect_true(all(laptops$category == "Laptops"))
  expect_equal(nrow(q_product_engagement(db, from, to, "Laptops' OR '1'='1", NULL, 50)), 0)
  s <- q_product_summary(db, from, to, "Laptops", "Dell")
  expect_equal(s$views, expected$dell_laptop_views)
  expect_true(all(c("Laptops", "Monitors") %in% q_product_filters(db, from, to)$category))
})

test_that("journeys and data health", {
  expect_equal(sum(q_journey_paths(db, from, to, 500)$sessions), expected$sessions)
  pages <- q_journey_pages(db, from, to, 1)
  expect_equal(pages$kind, c("entry", "exit"))
  expect_equal(pages$page, c(expected$top_entry_page, expected$top_exit_page))
  summary <- q_journey_summary(db, from, to)
  expect_equal(summary$sessions, expected$sessions)
  expect_equal(summary$sampled, expected$sessions)
  expect_equal(q_etl_last_run(db)$status, "succeeded")
  expect_equal(q_etl_summary(db, from, to)$rejected, expected$rejected)
  expect_equal(sum(q_etl_rejects_by_reason(db, from, to)$rejects), expected$rejected)
})

test_that("acquisition and audience: every channel's sources, one dimension at a time", {
  channels <- q_channels(db, from, to)
  expect_equal(sum(channels$sessions), expected$sessions)
  all <- q_sources(db, from, to, ALL_CHOICE, 100)
  expect_equal(sum(all$sessions), expected$sessions)
  one <- q_sources(db, from, to, channels$channel[1], 100)
  expect_true(nrow(one) > 0 && all(one$channel == channels$channel[1]))
  expect_equal(nrow(q_sources(db, from, to, "Direct' OR '1'='1", 100)), 0)
  for (dimension in AUDIENCE_DIMENSIONS) {
    expect_equal(sum(q_audience(db, from, to, dimension)$sessions), expected$sessions)
  }
  expect_error(q_audience(db, from, to, "email"), "dimension must be one of device_type")
  expect_error(q_retention_weekly(db, from, to, 0), "weeks must be 1-52")
  expect_equal(nrow(q_retention_weekly(db, from, to, 8)), 0)
})

test_that("the page filters reach the SQL: a segment, every value, a hostile value", {
  segment <- list(channel = "Email", device_type = "mobile", country = NULL)
  expect_true(segment_filtered(segment))
  expect_false(segment_filtered(list(channel = ALL_CHOICE, device_type = "", country = NULL)))
  expect_equal(q_funnel(db, from, to, segment)$sessions, expected$segment_funnel)
  expect_equal(q_visitors(db, from, to, segment)$visitors, expected$segment_visitors)
  expect_true(is.na(q_visitors(db, from, to, segment)$signed_in_users))   # not kept by segment
  expect_equal(q_funnel(db, from, to, list(channel = ALL_CHOICE))$sessions, expected$funnel)
  expect_equal(sum(q_funnel_daily(db, from, to, list(country = "DE' OR '1'='1"))$sessions), 0)
  expect_equal(sum(q_audience(db, from, to, "country", segment)$sessions), expected$segment_sessions)
  expect_error(q_audience(db, from, to, "browser", segment), "dimension must be one of device_type, country")
  values <- q_segment_filters(db, from, to)
  expect_setequal(unique(values$filter), c("channel", "device_type", "country"))
  expect_true("Email" %in% values$value[values$filter == "channel"])
})

test_that("an empty period gives zeros and empty frames, not errors", {
  s <- q_activity_summary(db, "2001-01-01", "2001-01-31")
  expect_equal(c(s$events, s$sessions, s$peak_hour_users), c(0, 0, 0))
  expect_equal(nrow(q_journey_paths(db, "2001-01-01", "2001-01-31")), 0)
})

test_that("the connection is read-only and reopens after being closed", {
  expect_error(DBI::dbExecute(db$connection(), "DELETE FROM agg_funnel_daily"))
  db$close()
  expect_equal(q_activity_summary(db, from, to)$events, expected$events)
})
