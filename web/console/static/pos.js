/* The till page's camera (web/console/pos.py; the page works without this file).
 *
 * A "Scan" button opens the rear camera (scanner.js). A scanned QR fills the right field and
 * submits its form, as if typed: a membership card (the member's 8-symbol code) goes to
 * "Find", a reward code (13 symbols) to "Check", which shows what the code is; the cashier
 * still confirms. Codes are read as rewards/codes.py reads them: Crockford base32, spaces
 * and dashes dropped, O read as 0, I and L as 1.
 */
(function () {
  "use strict";

  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  var MEMBER_LENGTH = 8;
  var REWARD_LENGTH = 13;

  function normalize(text) {
    var cleaned = String(text).toUpperCase().replace(/[ \t_-]/g, "")
      .replace(/O/g, "0").replace(/[IL]/g, "1");
    if (!cleaned) {
      return "";
    }
    for (var i = 0; i < cleaned.length; i++) {
      if (ALPHABET.indexOf(cleaned.charAt(i)) < 0) {
        return "";
      }
    }
    return cleaned;
  }

  function kind(text) {
    var code = normalize(text);
    if (code.length === REWARD_LENGTH) {
      return { form: "check-form", field: "check-code", value: code };
    }
    if (code.length === MEMBER_LENGTH) {
      return { form: "find-form", field: "find-customer", value: code };
    }
    return null;
  }

  var panel = document.getElementById("scanner");
  var video = document.getElementById("scanner-video");
  var status = document.getElementById("scanner-status");
  var stopButton = document.getElementById("scanner-stop");
  if (!panel || !video || !window.LoyaltyScanner) {
    return;
  }
  var words = panel.dataset;
  var submitting = false;

  function say(text, how) {
    status.textContent = text;
    status.className = how === "error" ? "till-error" : "till-note";
  }

  var scanner = window.LoyaltyScanner.create({
    video: video,
    messages: words,
    onMessage: say,
    onCode: function (text) {
      var found = kind(text);
      if (!found) {
        say(words.foreign, "error");
        return;
      }
      if (submitting) {
        return;
      }
      submitting = true;
      scanner.stop();
      document.getElementById(found.field).value = found.value;
      var form = document.getElementById(found.form);
      if (form.requestSubmit) {
        form.requestSubmit();
      } else {
        form.submit();
      }
    }
  });

  function close() {
    scanner.stop();
    panel.hidden = true;
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-scan]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      panel.hidden = false;
      panel.scrollIntoView({ block: "nearest" });
      stopButton.focus();
      scanner.start();
    });
  });
  stopButton.addEventListener("click", close);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) {
      close();
    }
  });

  // A confirm or a purchase is sent once, however often the button is tapped.
  Array.prototype.forEach.call(document.querySelectorAll("form[method=post]"), function (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (button) {
        setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
})();
