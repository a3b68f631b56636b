// The /chat page: post what the customer says, poll for the bot's replies (each with the
// customer's words it answers, so a number opened again shows both sides).
// Every reply comes through the outbox like on any channel, so the page polls
// GET /chat/messages quickly right after it posts and slowly otherwise (for notices,
// such as points from a purchase at the till).
(function () {
  "use strict";

  var main = document.getElementById("chat");
  var url = main.dataset.messages;
  var log = document.getElementById("log");
  var status = document.getElementById("status");
  var phoneInput = document.getElementById("phone");
  var textInput = document.getElementById("text");
  var sendButton = document.querySelector("#say button");

  var phone = null;
  var cursor = 0;
  var seen = new Set();
  var timer = null;
  var polling = false;
  var fastUntil = 0;
  var following = true; // the log is scrolled to its end
  var unanswered = []; // what this page sent and drew, not yet seen with a reply

  function say(text) { status.textContent = text || ""; }
  // A wrong phone number is said under its field, where the customer will fix it.
  var phoneError = document.getElementById("phone-error");
  function phoneProblem(text) {
    phoneError.textContent = text || "";
    phoneInput.setAttribute("aria-invalid", text ? "true" : "false");
  }
  function sleep(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  function newId() {
    // One id per message, reused on retry: the server does it once.
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // The log scrolls, not the page: the newest message is kept in view while the reader is
  // at the end, and left alone while they scroll back to read.
  function atEnd() { return log.scrollHeight - log.scrollTop - log.clientHeight < 48; }
  function toEnd() { if (following) { log.scrollTop = log.scrollHeight; } }
  log.addEventListener("scroll", function () { following = atEnd(); });

  function bubble(who, text) {
    var div = document.createElement("div");
    div.className = "msg " + who;
    if (text) {
      var p = document.createElement("p");
      p.textContent = text; // text, never HTML
      div.appendChild(p);
    }
    log.appendChild(div);
    return div;
  }

  function showOwn(text) {
    following = true; // what you just said: back to the end
    bubble("you", text);
    toEnd();
  }

  function showSaid(said) {
    // What the customer said, kept with the reply it got: drawn when the page did not draw
    // it as it was sent (a number opened again). Sent words with no reply are passed over.
    var at = unanswered.indexOf(said);
    if (at >= 0) { unanswered.splice(0, at + 1); return; }
    bubble("you", said);
  }

  function showBot(message) {
    if (seen.has(message.id)) { return; }
    seen.add(message.id);
    if (message.said) { showSaid(message.said); }
    var div = bubble(message.kind === "reply" ? "bot" : "bot notice", message.text);
    if (message.image) {
      var img = document.createElement("img");
      img.className = "qr";
      img.alt = "QR code: show it at the counter";
      img.src = message.image;
      img.addEventListener("load", toEnd);
      div.appendChild(img);
    }
    if (message.buttons.length) {
      var row = document.createElement("div");
      row.className = "buttons";
      message.buttons.forEach(function (button) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = button.title;
        b.addEventListener("click", function () { send({ payload: button.payload, text: button.title }, button.title); });
        row.appendChild(b);
      });
      div.appendChild(row);
    }
    toEnd();
  }

  function schedule(ms) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(poll, ms);
  }

  async function poll() {
    timer = null;
    if (!phone) { return; }
    if (polling) { schedule(100); return; } // one poll at a time
    polling = true;
    var asked = phone;
    var next = 3000;
    try {
      var response = await fetch(url + "?phone=" + encodeURIComponent(asked) + "&after=" + cursor, { cache: "no-store" });
      var data = await response.json();
      if (asked !== phone) { return; } // the number was changed meanwhile
      if (response.ok) {
        data.messages.forEach(showBot);
        cursor = data.cursor;
        if (data.more) { next = 150; } // catching up on a long history
        // A reply on its way: look again soon, for a few seconds (then gently: no sender may be running).
        else if (data.pending) { next = Date.now() < fastUntil ? 150 : 1500; }
      } else if (response.status === 400) {
        phoneProblem(data.message); // a wrong number: stop until another is given
        phoneInput.focus();
        phone = null;
        textInput.disabled = true;
        sendButton.disabled = true;
        return;
      } else {
        say(data.message);
      }
    } catch (error) {
      next = 5000;
    } finally {
      polling = false;
    }
    if (Date.now() < fastUntil) { next = Math.min(next, 250); }
    schedule(next);
  }

  async function send(fields, shown) {
    if (!phone) { return; }
    showOwn(shown);
    unanswered.push(fields.text);
    var body = JSON.stringify(Object.assign({ phone: phone, id: newId() }, fields));
    for (var attempt = 1; attempt <= 3; attempt++) {
      try {
        var response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Loyalty-Chat": "1" },
          body: body,
        });
        var data = await response.json();
        if (!response.ok) {
          if (data.error === "bad_phone") { phoneProblem(data.message); } else { say(data.message || "That did not work."); }
          return;
        }
        say("");
        fastUntil = Date.now() + 5000;
        schedule(50);
        return;
      } catch (error) {
        say("Connection trouble, trying again…");
        await sleep(1000 * attempt);
      }
    }
    say("Could not reach the server; try again.");
  }

  document.getElementById("who").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = phoneInput.value.trim();
    if (!value) { return; }
    phone = value;
    cursor = 0;
    seen = new Set();
    unanswered = [];
    following = true;
    log.textContent = "";
    try { localStorage.setItem("loyalty-chat-phone", value); } catch (error) { /* private mode */ }
    textInput.disabled = false;
    sendButton.disabled = false;
    textInput.placeholder = "Say hi, or ask: how many points do I have?";
    textInput.focus();
    say("");
    phoneProblem("");
    schedule(0);
  });

  document.getElementById("say").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = textInput.value.trim();
    if (!text) { return; }
    textInput.value = "";
    send({ text: text }, text);
  });

  try { phoneInput.value = localStorage.getItem("loyalty-chat-phone") || ""; } catch (error) { /* private mode */ }
})();
