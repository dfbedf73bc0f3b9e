// The Today page updates itself: it asks /api/today for the office's version every few seconds (one request at
// a time, slower after errors, paused while the tab is hidden, stopped after an hour) and, when it changed,
// fetches the page again and swaps in the new content.  No other page runs script.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var INTERVAL = 3000, MAX_INTERVAL = 60000, MAX_POLLS = 1200;
  var version = live.getAttribute("data-version"), url = live.getAttribute("data-poll");
  var wait = INTERVAL, polls = 0, timer = null;

  function schedule() { if (polls < MAX_POLLS) { timer = setTimeout(poll, wait); } }

  function refresh() {
    return fetch(window.location.pathname + window.location.search, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var current = document.getElementById("live");
        if (fresh && current) { current.replaceWith(fresh); version = fresh.getAttribute("data-version"); }
      });
  }

  function poll() {
    polls += 1;
    if (document.hidden) { schedule(); return; }
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("logged out"); }
        if (!r.ok) { throw new Error(r.status); }
        return r.json();
      })
      .then(function (state) {
        wait = INTERVAL;
        if (state.version !== version) { return refresh(); }
      })
      .catch(function () { wait = Math.min(wait * 2, MAX_INTERVAL); })
      .then(schedule);
  }
  schedule();
}());
