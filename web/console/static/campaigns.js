/* The campaign form's "When": only the fields of the choice made are shown (the send time
   for "at a time", the repeat choices for "Repeat", and of those the weekdays, the day of the
   month, the time or the cron expression that the chosen repeat uses). Without this script
   every field shows, and the server reads only those of the choice made. */
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) {
    return;
  }

  function chosen(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : "";
  }

  function show() {
    var when = chosen("when");
    var repeat = chosen("repeat");
    Array.prototype.forEach.call(form.querySelectorAll("[data-when]"), function (part) {
      part.hidden = part.getAttribute("data-when") !== when;
    });
    Array.prototype.forEach.call(form.querySelectorAll("[data-repeat]"), function (part) {
      part.hidden = part.getAttribute("data-repeat").split(" ").indexOf(repeat) < 0;
    });
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "when" || event.target.name === "repeat") {
      show();
    }
  });
  show();
})();

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
                "joined_after", "joined_before", "has_redeemed", "when", "send_at", "repeat",
                "weekday", "month_day", "repeat_time", "cron"];
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
