// "What if?" on the planning form: sends the area and the filled-in scenario keys to
// POST /api/plan/whatif and shows the figures at once (nothing is queued or saved).
// Every value is checked by the server; its one-line message is shown as text.
(function () {
  "use strict";
  var button = document.getElementById("whatif-button");
  var out = document.getElementById("whatif-result");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!button || !out || !meta || !window.fetch) { return; }
  var form = button.form;
  var csrf = meta.getAttribute("content");
  var LISTS = ["windows", "categories", "weekdays"];
  var WHOLE = /^[+-]?\d+$/;
  var NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

  function value(key, text) {
    // numbers as numbers, lists as lists; anything else goes as text for the server to refuse
    if (LISTS.indexOf(key) >= 0) {
      return text.split(",").map(function (part) { return part.trim(); })
        .filter(function (part) { return part !== ""; })
        .map(function (part) { return key === "weekdays" && WHOLE.test(part) ? parseInt(part, 10) : part; });
    }
    if (WHOLE.test(text)) { return parseInt(text, 10); }
    if (NUMBER.test(text)) { return parseFloat(text); }
    return text;
  }

  function parameters() {
    var found = {};
    var inputs = form.querySelectorAll("input[data-whatif]");
    for (var i = 0; i < inputs.length; i++) {
      var text = inputs[i].value.trim();
      if (text !== "") { found[inputs[i].name] = value(inputs[i].name, text); }
    }
    return found;
  }

  function cell(row, tag, text) {
    var element = document.createElement(tag);
    element.textContent = text;
    row.appendChild(element);
  }

  function table(caption, rows) {
    var element = document.createElement("table");
    var head = document.createElement("caption");
    head.textContent = caption;
    element.appendChild(head);
    rows.forEach(function (pair) {
      var row = document.createElement("tr");
      cell(row, "th", pair[0]);
      cell(row, "td", pair[1] === null || pair[1] === undefined ? "–" : String(pair[1]));
      element.appendChild(row);
    });
    return element;
  }

  function percent(share) { return share === null || share === undefined ? null : Math.round(share * 100) + " %"; }

  function show(answer) {
    out.textContent = "";
    var f = answer.figures;
    out.appendChild(table("What if: " + answer.area_name, [
      ["km of passage", f.passage_km],
      ["hot segments (on the passages)", f.hot_segments + " (" + f.hot_on_passages + ")"],
      ["routes", f.routes],
      ["mean detour ratio", f.mean_detour_ratio],
      ["risk exposure avoided by the safer paths", percent(f.exposure_reduction)],
      ["incidents used", f.incidents_used]
    ]));
    if (answer.coverage) {
      var c = answer.coverage, m = c.metrics;
      out.appendChild(table("Officers: " + c.officers + " (" + c.mode + ")", [
        ["risk exposure watched", percent(m.exposure_share)],
        ["walkers watched", percent(m.demand_share)],
        ["km watched", m.watched_km],
        ["hot passage segments watched", m.hot_watched + " of " + m.hot_segments],
        ["posts", c.posts.map(function (p) { return p.officer + ". " + p.corner; }).join("; ") || null],
        ["loops", c.loops.map(function (l) { return l.officer + ". " + l.length_km + " km, " + l.minutes + " min"; })
          .join("; ") || null]
      ]));
    }
    (answer.notes || []).forEach(function (note) {
      var p = document.createElement("p");
      p.className = "hint";
      p.textContent = note;
      out.appendChild(p);
    });
  }

  function fail(message) {
    out.textContent = "";
    var p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = message;
    out.appendChild(p);
  }

  button.hidden = false;
  var hint = document.getElementById("whatif-hint");
  if (hint) { hint.hidden = false; }
  button.addEventListener("click", function () {
    var area = form.querySelector("select[name=area]").value;
    button.disabled = true;
    out.setAttribute("aria-busy", "true");
    fetch("/api/plan/whatif", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ area: area, parameters: parameters() })
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; },
                                    function () { return { ok: false, body: { detail: "status " + response.status } }; });
      })
      .then(function (result) { if (result.ok) { show(result.body); } else { fail(result.body.detail); } })
      .catch(function (error) { fail("The what-if could not be asked: " + error.message); })
      .then(function () { button.disabled = false; out.removeAttribute("aria-busy"); });
  });
}());
