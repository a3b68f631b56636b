/* The campaign form's live count: as the audience filters or the send time change, ask
   /campaigns/preview (the same count as `loyalty campaign preview`, which writes nothing)
   and draw the answer it renders. Without this script the form's "Count" button does it. */
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  var region = document.getElementById("count");
  if (!form || !region || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-preview");
  var FIELDS = ["tier", "channel", "language", "inactive_days", "min_balance", "birthday_month",
                "joined_after", "joined_before", "has_redeemed", "when", "send_at"];
  var timer = null;
  var asked = 0;

  function query() {
    var data = new FormData(form);
    var params = new URLSearchParams();
    FIELDS.forEach(function (name) {
      data.getAll(name).forEach(function (value) { params.append(name, value); });
    });
    return params.toString();
  }

  function refused(message) {
    region.textContent = "";
    var line = document.createElement("p");
    line.className = "field-error";
    line.textContent = message;
    region.appendChild(line);
  }

  function refresh() {
    var mine = ++asked;
    region.setAttribute("aria-busy", "true");
    fetch(url + "?" + query(), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (mine !== asked) {
          return;  // an older answer, overtaken by a newer question
        }
        if (body.ok) {
          region.innerHTML = body.html;  // rendered (and escaped) by the server's template
        } else {
          refused(body.message);
        }
        region.setAttribute("data-state", body.ok ? "counted" : "refused");
      })
      .catch(function () {
        if (mine === asked) {
          region.setAttribute("data-state", "unknown");
        }
      })
      .then(function () {
        if (mine === asked) {
          region.removeAttribute("aria-busy");
        }
      });
  }

  function changed(event) {
    if (FIELDS.indexOf(event.target.name) < 0) {
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  refresh();
})();
