// Progress of a run without reloading: polls GET /api/runs/{id} every second and
// reloads the page once the run is done or failed (the page then shows its results).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) { return; }
  var url = box.getAttribute("data-api");
  var state = box.getAttribute("data-state");
  if (state !== "queued" && state !== "running") { return; }

  function show(run) {
    var stateEl = document.getElementById("run-state");
    var stepEl = document.getElementById("run-step");
    var bar = document.getElementById("run-progress");
    if (stateEl) { stateEl.textContent = run.state; stateEl.className = "state state-" + run.state; }
    if (stepEl) { stepEl.textContent = run.step; }
    if (bar) { bar.max = Math.max(run.steps_total, 1); bar.value = run.steps_done; }
    var items = document.querySelectorAll("#run-steps li");
    var current = -1;
    for (var i = 0; i < run.steps.length; i++) {
      if (run.step.indexOf(run.steps[i]) === 0) { current = i; }
    }
    for (var j = 0; j < items.length; j++) {
      items[j].className = run.state !== "running" ? "" : (j < current ? "done" : (j === current ? "current" : ""));
    }
  }

  function tick() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (run) {
        show(run);
        if (run.state === "done" || run.state === "failed") { window.location.reload(); return; }
        window.setTimeout(tick, 1000);
      })
      .catch(function () { window.setTimeout(tick, 3000); });
  }
  window.setTimeout(tick, 1000);
}());
