// Drives web/static/chat.js, the /chat page's own script, in Node against a running app:
// a fake DOM just big enough for the page, the real fetch. Prints the conversation as JSON.
//   node chat_page_driver.js BASE_URL SCRIPT PHONE WORD...   (a WORD "button:Title" presses a button)
"use strict";
const fs = require("fs");
const [base, scriptPath, phone, ...words] = process.argv.slice(2);

class Element {
  constructor(tag) {
    Object.assign(this, { tag, children: [], listeners: {}, dataset: {}, className: "", value: "", disabled: false });
    this.text = "";
  }
  appendChild(child) { this.children.push(child); return child; }
  addEventListener(type, listener) { (this.listeners[type] = this.listeners[type] || []).push(listener); }
  dispatch(type) { (this.listeners[type] || []).forEach((listener) => listener({ preventDefault() {} })); }
  focus() {}
  set textContent(value) { this.text = value; if (value === "") { this.children = []; } }
  get textContent() { return this.text; }
}

const elements = {};
for (const id of ["chat", "log", "status", "phone", "text", "who", "say"]) { elements[id] = new Element("div"); }
elements.chat.dataset.messages = "/chat/messages";
const sendButton = new Element("button");
const requests = [];
global.document = {
  getElementById: (id) => elements[id],
  querySelector: () => sendButton,
  createElement: (tag) => new Element(tag),
};
global.localStorage = { getItem: () => null, setItem: () => {} };
const realFetch = fetch;
global.fetch = (url, options) => {
  requests.push({ url, method: (options && options.method) || "GET", headers: (options && options.headers) || {} });
  return realFetch(base + url, options);
};
eval(fs.readFileSync(scriptPath, "utf8")); // the page's script, as the browser runs it

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const bubbles = () => elements.log.children.map((div) => ({
  who: div.className,
  text: div.children.filter((c) => c.tag === "p").map((p) => p.textContent).join(""),
  buttons: div.children.filter((c) => c.tag === "div").flatMap((row) => row.children.map((b) => b.textContent)),
  image: (div.children.find((c) => c.tag === "img") || {}).src || null,
}));

async function settle(count) {
  // Wait until the bot has answered: more bubbles than before, then quiet for a moment.
  const deadline = Date.now() + 10000;
  while (elements.log.children.length <= count || elements.log.children[elements.log.children.length - 1].className === "msg you") {
    if (Date.now() > deadline) { throw new Error("no answer: " + JSON.stringify(bubbles())); }
    await sleep(20);
  }
  await sleep(250);
}

(async () => {
  elements.phone.value = phone;
  elements.who.dispatch("submit");
  await sleep(300);
  for (const word of words) {
    const count = elements.log.children.length;
    if (word.startsWith("button:")) {
      const title = word.slice("button:".length);
      const buttons = elements.log.children.flatMap((d) => d.children.filter((c) => c.tag === "div").flatMap((r) => r.children));
      const button = buttons.reverse().find((b) => b.textContent === title);
      if (!button) { throw new Error("no button " + title); }
      button.dispatch("click");
    } else {
      elements.text.value = word;
      elements.say.dispatch("submit");
    }
    await settle(count + 1);
  }
  console.log(JSON.stringify({ bubbles: bubbles(), status: elements.status.textContent, requests }));
  process.exit(0);
})().catch((error) => { console.error(error.stack || String(error)); process.exit(1); });
