// The results page's filters (toolthink.evaluation.page): plain JavaScript, no libraries.
// It reads only the data-* attributes the page wrote, and never builds HTML from text.
(function () {
  "use strict";
  var episodes = Array.prototype.slice.call(document.querySelectorAll("details.episode"));
  var fields = ["outcome", "mode", "kind", "dataset"];
  var selects = fields.map(function (name) { return document.getElementById("f-" + name); });
  var task = document.getElementById("f-task");
  var count = document.getElementById("f-count");

  function apply() {
    var needle = task ? task.value.toLowerCase() : "";
    var shown = 0;
    episodes.forEach(function (episode) {
      var match = fields.every(function (name, i) {
        var select = selects[i];
        return !select || select.value === "" || episode.dataset[name] === select.value;
      });
      if (match && needle) {
        match = episode.dataset.task.toLowerCase().indexOf(needle) !== -1;
      }
      episode.hidden = !match;
      if (match) { shown += 1; }
    });
    if (count) { count.textContent = shown + " of " + episodes.length + " episodes shown"; }
  }

  function openShown(open) {
    episodes.forEach(function (episode) { episode.open = open && !episode.hidden; });
  }

  // Filters from the address: report.html#outcome=failed&mode=direct&task=clamp
  if (window.location.hash.indexOf("=") !== -1) {
    window.location.hash.slice(1).split("&").forEach(function (pair) {
      var parts = pair.split("=");
      var name = decodeURIComponent(parts[0]);
      var value = decodeURIComponent(parts.slice(1).join("="));
      var i = fields.indexOf(name);
      if (i !== -1 && selects[i]) { selects[i].value = value; }
      if (name === "task" && task) { task.value = value; }
    });
  }

  selects.forEach(function (select) {
    if (select) { select.addEventListener("change", apply); }
  });
  if (task) { task.addEventListener("input", apply); }
  var openButton = document.getElementById("f-open");
  var closeButton = document.getElementById("f-close");
  if (openButton) { openButton.addEventListener("click", function () { openShown(true); }); }
  if (closeButton) { closeButton.addEventListener("click", function () { openShown(false); }); }
  apply();

  var ready = document.createElement("p");
  ready.id = "page-ready";
  ready.hidden = true;
  ready.textContent = "ready: " + episodes.length + " episodes";
  document.body.appendChild(ready);
}());
