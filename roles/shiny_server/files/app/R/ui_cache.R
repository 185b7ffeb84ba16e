# The part of the pages that no request changes - value boxes, cards, chart and table outputs -
# built and rendered to HTML once per R process. A link decides only the range, the comparison,
# the open page and the filters' values (R/url_state.R); each page builds those inputs per
# request and takes the rest from here. Building and rendering all eight pages for every page
# load cost 0.6-0.7 s of R (bslib value boxes, htmltools resolving their repeated dependencies),
# before the browser had a byte (docs/capacity.md).
#
#   <page>_ui <- function(id, state) {
#     ns <- NS(id)
#     tagList(filter_bar("...", <inputs from state>),
#             static_ui(ns("body"), tagList(<what every request shows alike>)))
#   }
#
# `ui` is an argument R evaluates lazily: it is built only when `key` is not cached yet. The
# cached HTML carries the dependencies it needs, so the page's <head> links the same scripts and
# stylesheets. options(clickstream.ui_cache = FALSE) builds every time (tests compare the two).
#
# htmltools and shiny with namespace prefixes: sourced without attaching shiny by the testthat runner.

UI_CACHE <- new.env(parent = emptyenv())

static_ui <- function(key, ui) {
  if (!isTRUE(getOption("clickstream.ui_cache", TRUE))) return(ui)
  cached <- UI_CACHE[[key]]
  if (is.null(cached)) {
    cached <- render_static_ui(ui)
    assign(key, cached, envir = UI_CACHE)
  }
  cached
}

# The HTML of `ui` with its dependencies attached. What belongs in the page's <head> or must
# appear once per page (tags$head, singleton()) cannot be rendered apart from the page: an error.
render_static_ui <- function(ui) {
  rendered <- htmltools::renderTags(ui)
  if (nzchar(paste(rendered$head, collapse = "")) || length(rendered$singletons) > 0) {
    stop("static_ui: the cached part of a page must not hold tags$head() or singleton()", call. = FALSE)
  }
  htmltools::attachDependencies(htmltools::HTML(as.character(rendered$html)), rendered$dependencies)
}

# Empties the cache (tests; a running app never needs it: its UI code does not change while it runs).
clear_ui_cache <- function() rm(list = ls(UI_CACHE, all.names = TRUE), envir = UI_CACHE)
