// The console's only script: moments in the viewer's time zone. Pages work without it (UTC).
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  var long = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
  });
  var short = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  var relative = typeof Intl.RelativeTimeFormat === "function"
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
  var units = [["year", 31536e6], ["month", 2592e6], ["week", 6048e5], ["day", 864e5],
               ["hour", 36e5], ["minute", 6e4]];

  function ago(date) {
    var delta = date.getTime() - Date.now();
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(delta) >= units[i][1] || units[i][0] === "minute") {
        return relative.format(Math.round(delta / units[i][1]), units[i][0]);
      }
    }
    return "";
  }

  function show() {
    document.querySelectorAll("time[datetime]").forEach(function (node) {
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date.getTime())) { return; }
      var style = node.getAttribute("data-style");
      node.title = long.format(date) + " (" + zone + ")";
      if (style === "date") { node.textContent = short.format(date); }
      else if (style === "relative" && relative) { node.textContent = ago(date); }
      else { node.textContent = long.format(date); }
    });
    document.querySelectorAll("[data-zone]").forEach(function (node) { node.textContent = zone; });
  }

  // Buttons that change something for customers ask first (data-confirm holds the question).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) ||
                   event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", show); }
  else { show(); }
})();
