# Warehouse access for the dashboards: connection settings, connections, and one wrapper per
# dashboard query. The SQL itself lives in the warehouse (schema "dashboard", defined in
# functions/warehouse/dashboard/), so the Python tests and the benchmark run exactly what the
# app shows; these wrappers only pass validated parameters and return data frames.

DEFAULT_DB_CONFIG <- "/etc/shiny-server/clickstream-dw.dcf"
MAX_CONNECTIONS <- 100L
DB_CONFIG_FIELDS <- c("host", "port", "dbname", "user", "password")

# Reads the connection settings file (Debian control format: "key: value" lines).
# The path comes from CLICKSTREAM_DB_CONFIG (set by the role in the app's .Renviron).
read_db_config <- function(path = Sys.getenv("CLICKSTREAM_DB_CONFIG", DEFAULT_DB_CONFIG)) {
  if (!file.exists(path)) {
    stop(sprintf("warehouse settings file %s does not exist", path), call. = FALSE)
  }
  if (file.access(path, 4) != 0) {
    stop(sprintf("warehouse settings file %s is not readable by this user", path), call. = FALSE)
  }
  # "# ..." lines (the file's managed-by header) are comments; read.dcf itself has none.
  lines <- readLines(path, warn = FALSE)
  lines <- lines[!grepl("^\\s*#", lines)]
  fields <- read.dcf(textConnection(paste(lines, collapse = "\n")), all = TRUE)
  if (nrow(fields) != 1) {
    stop(sprintf("warehouse settings file %s must hold exactly one record", path), call. = FALSE)
  }
  cfg <- as.list(fields[1, , drop = TRUE])
  missing <- setdiff(DB_CONFIG_FIELDS, names(cfg)[nzchar(unlist(cfg))])
  if (length(missing) > 0) {
    stop(sprintf("warehouse settings file %s lacks: %s", path, paste(missing, collapse = ", ")), call. = FALSE)
  }
  port <- suppressWarnings(as.integer(cfg$port))
  if (is.na(port) || port < 1 || port > 65535) {
    stop(sprintf("warehouse settings file %s: port must be 1-65535, got %s", path, cfg$port), call. = FALSE)
  }
  cfg$port <- port
  if (is.null(cfg$sslmode) || !nzchar(cfg$sslmode)) cfg$sslmode <- "prefer"
  cfg
}

# Opens a read-only connection in UTC: every day boundary in the dashboards is a UTC day.
db_connect <- function(cfg = read_db_config()) {
  # RPostgreSQL has no sslmode argument; libpq reads it from the environment.
  Sys.setenv(PGSSLMODE = cfg$sslmode, PGAPPNAME = "clickstream-dashboards", PGCONNECT_TIMEOUT = "10")
  con <- DBI::dbConnect(
    # The driver is created once per R process; one R process serves every open tab, and the
    # default allows only 16 connections.
    RPostgreSQL::PostgreSQL(max.con = MAX_CONNECTIONS),
    host = cfg$host, port = cfg$port, dbname = cfg$dbname,
    user = cfg$user, password = cfg$password
  )
  DBI::dbExecute(con, "SET TimeZone TO 'UTC'")
  DBI::dbExecute(con, "SET default_transaction_read_only TO on")
  DBI::dbExecute(con, "SET statement_timeout TO '30s'")
  con
}

# A connection that is opened on first use and reopened once if the server dropped it
# (warehouse restart, idle timeout), so one broken socket does not break a whole session.
db_handle <- function(connect = db_connect) {
  con <- NULL
  # RPostgreSQL has no dbIsValid(): a dead connection shows up as a failing query instead.
  get <- function() {
    if (is.null(con)) con <<- connect()
    con
  }
  query <- function(sql, params = list()) {
    run <- function() {
      if (length(params) == 0) DBI::dbGetQuery(get(), sql) else DBI::dbGetQuery(get(), sql, params = params)
    }
    tryCatch(run(), error = function(e) {
      # Retry once on a fresh connection; a second failure is a real error for the page to show.
      close()
      run()
    })
  }
  close <- function() {
    if (!is.null(con)) try(DBI::dbDisconnect(con), silent = TRUE)
    con <<- NULL
  }
  list(query = query, close = close, connection = get)
}

# --- parameter checks -------------------------------------------------------------------

as_day <- function(x, what) {
  day <- tryCatch(as.Date(x), error = function(e) NA)
  if (length(day) != 1 || is.na(day)) stop(sprintf("%s must be a date, got %s", what, format(x)), call. = FALSE)
  day
}

check_range <- function(from, to) {
  from <- as_day(from, "from")
  to <- as_day(to, "to")
  if (from > to) stop(sprintf("from (%s) is after to (%s)", from, to), call. = FALSE)
  c(format(from), format(to))
}

# NULL/""/"All" mean "no filter", sent as "" (RPostgreSQL sends NA as the text "NA", not NULL;
# the SQL functions treat NULL and "" alike).
filter_value <- function(x) {
  if (is.null(x) || length(x) == 0 || is.na(x[1]) || identical(x[1], ALL_CHOICE)) "" else as.character(x[1])
}

check_limit <- function(n, what = "limit", max = 500L) {
  n <- suppressWarnings(as.integer(n))
  if (length(n) != 1 || is.na(n) || n < 1 || n > max) stop(sprintf("%s must be 1-%d", what, max), call. = FALSE)
  as.character(n)
}

ALL_CHOICE <- "All"

# Runs SELECT * FROM dashboard.<fn>(<params>) through `db` (a db_handle or anything with $query).
dash_call <- function(db, fn, params = list(), casts = character()) {
  stopifnot(grepl("^[a-z_]+$", fn))
  placeholders <- if (length(params) == 0) "" else paste0("$", seq_along(params), casts, collapse = ", ")
  params <- lapply(params, as.character)
  db$query(sprintf("SELECT * FROM dashboard.%s(%s)", fn, placeholders), params)
}

range_call <- function(db, fn, from, to, extra = list(), extra_casts = character()) {
  r <- check_range(from, to)
  dash_call(db, fn, c(list(r[1], r[2]), extra), c("::date", "::date", extra_casts))
}

# --- one wrapper per dashboard query ---------------------------------------------------------

q_data_bounds <- function(db) dash_call(db, "data_bounds")

# The page filters (channel, device type, country): segment = list(channel =, device_type =,
# country =), each NULL/""/"All" for every value; sent as three text parameters ("" = none).
SEGMENT_FILTERS <- c(channel = "Channel", device_type = "Device type", country = "Country")
segment_params <- function(segment = NULL) unname(lapply(names(SEGMENT_FILTERS), function(k) filter_value(segment[[k]])))
SEGMENT_CASTS <- c("::text", "::text", "::text")
segment_filtered <- function(segment = NULL) any(vapply(segment_params(segment), nzchar, logical(1)))
q_segment_filters <- function(db, from, to) range_call(db, "segment_filters", from, to)

q_activity_summary <- function(db, from, to, segment = NULL) {
  range_call(db, "activity_summary", from, to, segment_params(segment), SEGMENT_CASTS)
}
q_activity_hourly <- function(db, from, to) range_call(db, "activity_hourly", from, to)
q_activity_daily <- function(db, from, to, segment = NULL) {
  range_call(db, "activity_daily", from, to, segment_params(segment), SEGMENT_CASTS)
}

q_funnel <- function(db, from, to, segment = NULL) range_call(db, "funnel", from, to, segment_params(segment), SEGMENT_CASTS)
q_funnel_daily <- function(db, from, to, segment = NULL) {
  range_call(db, "funnel_daily", from, to, segment_params(segment), SEGMENT_CASTS)
}

q_product_filters <- function(db, from, to) range_call(db, "product_filters", from, to)
q_product_summary <- function(db, from, to, category = NULL, brand = NULL) {
  range_call(db, "product_summary", from, to,
             list(filter_value(category), filter_value(brand)), c("::text", "::text"))
}
q_product_engagement <- function(db, from, to, category = NULL, brand = NULL, limit = 25) {
  range_call(db, "product_engagement", from, to,
             list(filter_value(category), filter_value(brand), check_limit(limit)),
             c("::text", "::text", "::int"))
}
q_category_engagement <- function(db, from, to, brand = NULL) {
  range_call(db, "category_engagement", from, to, list(filter_value(brand)), "::text")
}

# Journeys describe every session of the range (the warehouse's per-day journey aggregates).
q_journey_summary <- function(db, from, to) range_call(db, "journey_summary", from, to)
q_journey_paths <- function(db, from, to, limit = 15) {
  range_call(db, "journey_paths", from, to, list(check_limit(limit), "6"), c("::int", "::int"))
}
q_journey_transitions <- function(db, from, to, max_steps = 5) {
  range_call(db, "journey_transitions", from, to, list(check_limit(max_steps, "max_steps", 10L)), "::int")
}
# The top `limit` entry pages (kind "entry") and exit pages (kind "exit") of the sample.
q_journey_pages <- function(db, from, to, limit = 10) {
  range_call(db, "journey_pages", from, to, list(check_limit(limit)), "::int")
}

# Acquisition and audience (dashboard/acquisition.sql).
AUDIENCE_DIMENSIONS <- c("device_type", "browser", "os", "country", "visitor_type", "login_state")
q_visitors <- function(db, from, to, segment = NULL) range_call(db, "visitors", from, to, segment_params(segment), SEGMENT_CASTS)
q_channels <- function(db, from, to) range_call(db, "channels", from, to)
q_sources <- function(db, from, to, channel = NULL, limit = 25) {
  range_call(db, "sources", from, to, list(filter_value(channel), check_limit(limit)), c("::text", "::int"))
}
q_referrers <- function(db, from, to, limit = 25) {
  range_call(db, "referrers", from, to, list(check_limit(limit)), "::int")
}
# Filtered (segment), only device_type and country: the segments keep no other dimension.
SEGMENT_DIMENSIONS <- c("device_type", "country")
q_audience <- function(db, from, to, dimension, segment = NULL) {
  if (length(dimension) != 1 || !(dimension %in% AUDIENCE_DIMENSIONS)) {
    stop(sprintf("dimension must be one of %s", paste(AUDIENCE_DIMENSIONS, collapse = ", ")), call. = FALSE)
  }
  if (segment_filtered(segment) && !(dimension %in% SEGMENT_DIMENSIONS)) {
    stop(sprintf("filtered by channel, device type or country, dimension must be one of %s",
                 paste(SEGMENT_DIMENSIONS, collapse = ", ")), call. = FALSE)
  }
  range_call(db, "audience", from, to, c(list(dimension), segment_params(segment)), c("::text", SEGMENT_CASTS))
}
q_retention_weekly <- function(db, from, to, weeks = 8) {
  range_call(db, "retention_weekly", from, to, list(check_limit(weeks, "weeks", 52L)), "::int")
}

q_etl_summary <- function(db, from, to) range_call(db, "etl_summary", from, to)
q_etl_loaded_hourly <- function(db, from, to) range_call(db, "etl_loaded_hourly", from, to)
q_etl_rejects_by_reason <- function(db, from, to) range_call(db, "etl_rejects_by_reason", from, to)
q_etl_last_run <- function(db) dash_call(db, "etl_last_run")
q_anomalies <- function(db, from, to) range_call(db, "anomalies", from, to)
q_restatements <- function(db, from, to) range_call(db, "restatements", from, to)
q_bot_share <- function(db, from, to) range_call(db, "bot_share", from, to)
q_revenue_reconciliation <- function(db, from, to) range_call(db, "revenue_reconciliation", from, to)
COVERAGE_DIMENSIONS <- c("channel", "device_type", "browser")
q_tracking_coverage <- function(db, from, to, dimension) {
  if (length(dimension) != 1 || !(dimension %in% COVERAGE_DIMENSIONS)) {
    stop(sprintf("dimension must be one of %s", paste(COVERAGE_DIMENSIONS, collapse = ", ")), call. = FALSE)
  }
  range_call(db, "tracking_coverage", from, to, list(dimension), "::text")
}

# Totals of a reconciliation: booked and tracked revenue, coverage = tracked booked orders / booked.
revenue_totals <- function(df) {
  booked <- sum(df$booked_orders)
  covered <- booked - sum(df$untracked_orders)
  list(booked_orders = booked, booked_revenue = sum(as.numeric(df$booked_revenue)),
       tracked_revenue = sum(as.numeric(df$tracked_revenue)), tracked_orders = sum(df$tracked_orders), covered = covered,
       coverage = if (booked > 0) covered / booked else NA, unbooked = sum(df$unbooked_purchases))
}
