# What a link carries: the shared date range, "compare to the previous period", the open page
# and that page's filters, e.g.
#   ?page=products&from=2026-03-01&to=2026-03-07&compare=off&category=Laptops&brand=Dell
# url_state() reads a query string into the view the app opens with (every value checked: an
# invalid or unknown one falls back to its default, never an error); url_query() writes the
# current view back (the app keeps the address bar in step with updateQueryString()).
#
# No shiny needed (the testthat runner sources this file without attaching it).

PAGES <- c("activity", "funnel", "products", "acquisition", "audience", "retention", "journeys", "health")

# Each page's filters in the URL: parameter -> a function (value, text) returning the value to
# open with, or NULL (the default) when the text is not a valid value. Values that depend on the
# data (a category, a channel) are taken as text here: the page keeps them only while its choices
# hold them.
# The page filters channel, device type and country (R/db.R, SEGMENT_FILTERS) on the pages they fit.
URL_SEGMENT <- list(channel = function(x) url_text(x), device_type = function(x) url_text(x),
                    country = function(x) url_text(x))
URL_FILTERS <- list(
  activity = URL_SEGMENT,
  funnel = URL_SEGMENT,
  products = list(category = function(x) url_text(x), brand = function(x) url_text(x)),
  acquisition = list(attribution = function(x) url_choice(x, c("session", "last_touch", "first_touch")),
                     channel = function(x) url_text(x)),
  audience = c(list(dimension = function(x) url_choice(x, c("device_type", "browser", "os", "country",
                                                            "visitor_type", "login_state"))),
               URL_SEGMENT),
  retention = list(weeks = function(x) url_choice(x, c("4", "8", "12"))),
  health = list(coverage_by = function(x) url_choice(x, c("channel", "device_type", "browser")))
)

url_text <- function(x, max_chars = 200) {
  if (length(x) != 1 || is.na(x) || !nzchar(x) || nchar(x, allowNA = TRUE) > max_chars) return(NULL)
  if (identical(x, "All")) return(NULL)
  x
}

url_choice <- function(x, choices) if (length(x) == 1 && !is.na(x) && x %in% choices) x else NULL

# compare: on unless the link says off (off, 0, false, no).
URL_OFF <- c("off", "0", "false", "no")

url_day <- function(x) {
  if (length(x) != 1 || is.na(x) || !grepl("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", x)) return(NULL)
  day <- tryCatch(as.Date(x, format = "%Y-%m-%d"), error = function(e) as.Date(NA))
  if (is.na(day) || format(day) != x) NULL else day
}

# The view a query string asks for. query: a named list as shiny::parseQueryString() returns it;
# default_from / default_to: the range to open with when the link has none (or an invalid one).
# A from after to is swapped. Returns list(from, to, compare, page, filters = list(<page> = list(...))).
url_state <- function(query, default_from, default_to) {
  get <- function(name) {
    v <- query[[name]]
    if (is.null(v)) NA_character_ else as.character(v)[1]
  }
  from <- url_day(get("from"))
  to <- url_day(get("to"))
  if (is.null(from)) from <- as.Date(default_from)
  if (is.null(to)) to <- as.Date(default_to)
  if (from > to) {
    swap <- from
    from <- to
    to <- swap
  }
  compare <- !(tolower(get("compare")) %in% URL_OFF)
  page <- url_choice(get("page"), PAGES)
  page <- if (is.null(page)) PAGES[1] else page
  # A parameter several pages have (channel, device_type, country) is the open page's: a link to
  # Acquisition's sources of a channel does not filter the other pages by it.
  shared <- names(which(table(unlist(lapply(URL_FILTERS, names))) > 1))
  filters <- lapply(names(URL_FILTERS), function(p) {
    spec <- URL_FILTERS[[p]]
    picked <- lapply(names(spec), function(name) if (p != page && name %in% shared) NULL else spec[[name]](get(name)))
    names(picked) <- names(spec)
    picked[!vapply(picked, is.null, logical(1))]
  })
  names(filters) <- names(URL_FILTERS)
  list(from = from, to = to, compare = compare, page = page, filters = filters)
}

# The query string of a view: page, from, to, compare=off when not comparing (on is the default), then the page's filters in the order of
# URL_FILTERS (a filter at its default - NULL, "" or "All" - left out).
url_query <- function(page, from, to, filters = list(), compare = TRUE) {
  params <- list(page = page, from = format(as.Date(from)), to = format(as.Date(to)))
  if (!isTRUE(compare)) params$compare <- "off"
  known <- names(URL_FILTERS[[page]])
  for (name in known) {
    v <- filters[[name]]
    if (length(v) == 1 && !is.na(v) && nzchar(v) && !identical(v, "All")) params[[name]] <- as.character(v)
  }
  paste0("?", paste(names(params), vapply(params, utils::URLencode, character(1), reserved = TRUE),
                    sep = "=", collapse = "&"))
}

# The value a page's input opens with: the link's, else `default`.
url_filter <- function(state, page, name, default = NULL) {
  v <- state$filters[[page]][[name]]
  if (is.null(v)) default else v
}
