write_config <- function(lines) {
  path <- tempfile(fileext = ".dcf")
  writeLines(lines, path)
  path
}

test_that("a complete settings file is read, port as a number, sslmode defaulted", {
  cfg <- read_db_config(write_config(c("# Ansible managed", "host: db", "port: 5433", "dbname: dw", "user: r",
                                       "# the reader's password", "password: p:w d")))
  expect_equal(cfg$host, "db")
  expect_identical(cfg$port, 5433L)
  expect_equal(cfg$password, "p:w d")
  expect_equal(cfg$sslmode, "prefer")
})

test_that("a missing file, a missing field and a bad port are named in the error", {
  expect_error(read_db_config(file.path(tempdir(), "nope.dcf")), "nope.dcf does not exist")
  expect_error(read_db_config(write_config(c("host: db", "port: 5432", "dbname: dw", "user: r"))),
               "lacks: password")
  expect_error(read_db_config(write_config(c("host: db", "port: 99999", "dbname: dw", "user: r", "password: p"))),
               "port must be 1-65535, got 99999")
})

test_that("date ranges and limits are checked before any query runs", {
  expect_equal(check_range("2026-03-01", as.Date("2026-03-02")), c("2026-03-01", "2026-03-02"))
  expect_error(check_range("2026-03-05", "2026-03-01"), "from \\(2026-03-05\\) is after to \\(2026-03-01\\)")
  expect_error(check_range("yesterday", "2026-03-01"), "from must be a date")
  expect_error(check_limit(0), "limit must be 1-500")
  expect_equal(filter_value(ALL_CHOICE), "")
  expect_equal(filter_value(NULL), "")
  expect_equal(filter_value("Laptops"), "Laptops")
})

test_that("a visitor count says whether it is exact or approximate, and by how much", {
  expect_equal(visitor_note(data.frame(approximate = FALSE, relative_error = 0)), "distinct browsers, exact")
  expect_equal(visitor_note(data.frame(approximate = TRUE, relative_error = 0.0057)),
               "distinct browsers, approximate (\u00b10.6%)")
})

test_that("numbers are formatted for people", {
  expect_equal(fmt_int(1234567), "1,234,567")
  expect_equal(fmt_pct(0.2143), "21.4%")
  expect_equal(fmt_money(8254.9), "$8,254.90")
  expect_equal(fmt_duration(135), "2 min 15 s")
  expect_equal(fmt_int(NA), "\u2013")
})
