# Runs the query wrapper tests: Rscript tests/testthat.R (from the app directory).
# Needs CLICKSTREAM_DB_CONFIG (a reader login to a warehouse holding the known test data) and
# CLICKSTREAM_TEST_EXPECTED (the figures that data must give); tests/dashboard sets both.
library(testthat)
for (f in list.files("R", full.names = TRUE)) source(f)
test_dir("tests/testthat", reporter = c("summary", "fail"), stop_on_failure = TRUE)
