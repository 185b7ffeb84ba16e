# The view a link carries (R/url_state.R): pure functions, no warehouse needed.

DEFAULT_FROM <- as.Date("2026-02-03")
DEFAULT_TO <- as.Date("2026-03-04")

test_that("a link's range, page and filters are read back", {
  s <- url_state(list(page = "products", from = "2026-03-02", to = "2026-03-03", category = "Laptops",
                      brand = "Dell"), DEFAULT_FROM, DEFAULT_TO)
  expect_equal(s$from, as.Date("2026-03-02"))
  expect_equal(s$to, as.Date("2026-03-03"))
  expect_equal(s$page, "products")
  expect_equal(s$filters$products, list(category = "Laptops", brand = "Dell"))
  expect_equal(url_filter(s, "products", "brand"), "Dell")
  expect_equal(url_filter(s, "audience", "dimension", "device_type"), "device_type")
  expect_true(s$compare)  # compared with the previous period unless the link says off
  expect_false(url_state(list(compare = "off"), DEFAULT_FROM, DEFAULT_TO)$compare)
  expect_false(url_state(list(compare = "FALSE"), DEFAULT_FROM, DEFAULT_TO)$compare)
  expect_true(url_state(list(compare = "maybe"), DEFAULT_FROM, DEFAULT_TO)$compare)
  a <- url_state(list(page = "acquisition", attribution = "first_touch", channel = "Organic Search",
                      dimension = "browser", weeks = "12", coverage_by = "browser"), DEFAULT_FROM, DEFAULT_TO)
  expect_equal(a$filters$acquisition, list(attribution = "first_touch", channel = "Organic Search"))
  expect_equal(a$filters$audience, list(dimension = "browser"))  # not the acquisition's channel
  # The page filters (channel, device type, country) of the page a link opens.
  f <- url_state(list(page = "funnel", channel = "Email", device_type = "mobile", country = "DE",
                      dimension = "country"), DEFAULT_FROM, DEFAULT_TO)
  expect_equal(f$filters$funnel, list(channel = "Email", device_type = "mobile", country = "DE"))
  expect_length(f$filters$activity, 0)
  expect_equal(f$filters$audience, list(dimension = "country"))
  expect_equal(url_state(list(page = "audience", device_type = "tablet"), DEFAULT_FROM, DEFAULT_TO)$filters$audience,
               list(device_type = "tablet"))
  expect_equal(url_query("activity", "2026-03-02", "2026-03-02", list(channel = "Paid Search", device_type = NULL,
                                                                      country = "All")),
               "?page=activity&from=2026-03-02&to=2026-03-02&channel=Paid%20Search")
  expect_equal(a$filters$retention, list(weeks = "12"))
  expect_equal(a$filters$health, list(coverage_by = "browser"))
})

test_that("no link, or invalid values in it, open the defaults and never fail", {
  s <- url_state(list(), DEFAULT_FROM, DEFAULT_TO)
  expect_equal(list(s$from, s$to, s$page), list(DEFAULT_FROM, DEFAULT_TO, "activity"))
  expect_true(all(lengths(s$filters) == 0))
  bad <- url_state(list(from = "2026-02-30", to = "yesterday", page = "admin", attribution = "last_click",
                        dimension = "'; DROP TABLE sessions; --", weeks = "9", coverage_by = "",
                        category = strrep("x", 201), channel = "All"), DEFAULT_FROM, DEFAULT_TO)
  expect_equal(list(bad$from, bad$to, bad$page), list(DEFAULT_FROM, DEFAULT_TO, "activity"))
  expect_true(all(lengths(bad$filters) == 0))
  expect_equal(url_state(list(from = "2026-3-2"), DEFAULT_FROM, DEFAULT_TO)$from, DEFAULT_FROM)
  # Only one end given: the other is the default's; a from after to is read the other way round.
  expect_equal(url_state(list(to = "2026-01-01"), DEFAULT_FROM, DEFAULT_TO)[c("from", "to")],
               list(from = as.Date("2026-01-01"), to = DEFAULT_FROM))
  expect_equal(url_state(list(from = "2026-03-04", to = "2026-03-02"), DEFAULT_FROM, DEFAULT_TO)[c("from", "to")],
               list(from = as.Date("2026-03-02"), to = as.Date("2026-03-04")))
  # A text filter is a value like any other (the SQL binds it); a default "All" is no filter.
  odd <- url_state(list(category = "Laptops & <Tablets>"), DEFAULT_FROM, DEFAULT_TO)
  expect_equal(odd$filters$products, list(category = "Laptops & <Tablets>"))
})

test_that("the view is written as a query string that reads back as the same view", {
  q <- url_query("products", as.Date("2026-03-02"), as.Date("2026-03-04"),
                 list(category = "Laptops & <Tablets>", brand = "All"))
  expect_equal(q, "?page=products&from=2026-03-02&to=2026-03-04&category=Laptops%20%26%20%3CTablets%3E")
  back <- url_state(shiny::parseQueryString(q), DEFAULT_FROM, DEFAULT_TO)
  expect_equal(back$filters$products, list(category = "Laptops & <Tablets>"))
  expect_equal(back$page, "products")
  # Another page's filters stay out of the link; a page without filters has just the range.
  expect_equal(url_query("activity", "2026-03-02", "2026-03-02", list(category = "Laptops")),
               "?page=activity&from=2026-03-02&to=2026-03-02")
  expect_equal(url_query("activity", "2026-03-02", "2026-03-02", compare = FALSE),
               "?page=activity&from=2026-03-02&to=2026-03-02&compare=off")
  expect_false(url_state(shiny::parseQueryString(url_query("audience", "2026-03-02", "2026-03-02",
                                                           list(dimension = "os"), FALSE)),
                         DEFAULT_FROM, DEFAULT_TO)$compare)
  expect_equal(url_query("acquisition", "2026-03-02", "2026-03-03",
                         list(attribution = "last_touch", channel = "Organic Search")),
               "?page=acquisition&from=2026-03-02&to=2026-03-03&attribution=last_touch&channel=Organic%20Search")
})
