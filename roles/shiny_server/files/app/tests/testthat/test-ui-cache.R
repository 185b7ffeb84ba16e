# The pages' request-independent UI is rendered once per R process (R/ui_cache.R): every link
# must still give the page it gave when each load built everything anew - its range, comparison,
# open page and filters - and a load must not build the cached part again.

APP <- normalizePath(file.path("..", ".."))

# app.R as Shiny runs it (from the app's directory), without its final shinyApp(): ui(),
# initial_state(), the theme.
app_env <- function() {
  env <- new.env()
  exprs <- parse(file.path(APP, "app.R"))
  for (e in exprs[-length(exprs)]) eval(e, env)
  env
}

# The page a link gets, as Shiny serves it. The navbar's ids are random per load, and the
# indentation differs where a cached part was rendered apart (both left out: whitespace runs
# read as one space, none between tags).
page_html <- function(env, query) {
  html <- as.character(shiny:::renderPage(env$ui(list(QUERY_STRING = query))))
  html <- gsub("(navbar-collapse-|data-tabsetid=\"|tab-)[0-9]+(-[0-9]+)?", "\\1N", html)
  gsub("> <", "><", gsub("\\s+", " ", html))
}

# Where two pages first differ, for the failure message ("" when they do not).
first_difference <- function(a, b) {
  if (identical(a, b)) return("")
  x <- strsplit(a, "")[[1]]
  y <- strsplit(b, "")[[1]]
  n <- min(length(x), length(y))
  at <- which(x[seq_len(n)] != y[seq_len(n)])[1]
  if (is.na(at)) at <- n + 1
  paste0("at ", at, ": ", substr(a, max(1, at - 150), at + 150), "\n  vs  ", substr(b, max(1, at - 150), at + 150))
}

LINKS <- c(
  "",
  "?page=products&from=2026-03-02&to=2026-03-03&compare=off&category=Laptops&brand=Dell",
  "?page=acquisition&attribution=first_touch&channel=Email",
  "?page=audience&dimension=os&channel=Email&device_type=mobile&country=DE",
  "?page=funnel&channel=Direct&device_type=desktop",
  "?page=retention&weeks=12",
  "?page=journeys&from=2026-03-03&to=2026-03-01",
  "?page=health&coverage_by=browser"
)

test_that("every link gives the page it gave when each load built everything", {
  withr::local_dir(APP)
  env <- app_env()
  clear_ui_cache()
  built <- withr::with_options(list(clickstream.ui_cache = FALSE),
                               lapply(LINKS, function(q) page_html(env, q)))
  # Cached from the first link (no filters, the Activity page); the others read that cache.
  cached <- lapply(LINKS, function(q) page_html(env, q))
  expect_gt(length(ls(UI_CACHE)), 0)
  for (i in seq_along(LINKS)) {
    expect_equal(first_difference(cached[[i]], built[[i]]), "", label = paste("cached vs built, link", LINKS[i]))
  }
  # The link's state is in the page: the products link's filters and the range bar's values.
  expect_match(cached[[2]], '<option value="Laptops" selected>Laptops</option>', fixed = TRUE)
  expect_match(cached[[2]], 'data-initial-date="2026-03-02"', fixed = TRUE)
  expect_match(cached[[4]], '<option value="os" selected>Operating system</option>', fixed = TRUE)
})

test_that("a page load does not build the cached part again", {
  withr::local_dir(APP)
  env <- app_env()
  clear_ui_cache()
  page_html(env, "")
  keys <- ls(UI_CACHE)
  expect_setequal(keys, paste0(PAGES, "-body"))
  # A cached key's UI argument is never evaluated again.
  expect_silent(static_ui("activity-body", stop("the cached part was built again")))
  clear_ui_cache()
  expect_error(static_ui("activity-body", stop("the cached part was built again")), "built again")
})

test_that("what belongs in the page's head cannot be cached apart from it", {
  clear_ui_cache()
  expect_error(static_ui("x-body", htmltools::tags$head(htmltools::tags$meta(name = "x"))), "tags\\$head")
  expect_error(static_ui("y-body", htmltools::singleton(htmltools::tags$p("once"))), "singleton")
  clear_ui_cache()
})
