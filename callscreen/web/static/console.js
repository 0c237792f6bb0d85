// Live call list: replaces call cards with the server-rendered (escaped) HTML from the
// event stream, and sends feedback buttons with fetch so that the stream stays open.
"use strict";

(function () {
  const calls = document.getElementById("calls");
  const status = document.getElementById("status");
  const message = document.getElementById("message");

  function parseCard(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content.firstElementChild;
  }

  // Keeps what reception is typing when an update for the same call replaces the card.
  function carryInputs(oldCard, newCard) {
    for (const input of oldCard.querySelectorAll("input[name]:not([type=hidden])")) {
      const twin = newCard.querySelector(`input[name="${input.name}"]`);
      if (twin) { twin.value = input.value; }
    }
  }

  function showEmpty() {
    if (!calls.querySelector(".call")) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = calls.dataset.empty;
      calls.replaceChildren(empty);
    }
  }

  function upsert(callId, html) {
    const card = parseCard(html);
    if (!card) { return; }
    const old = Array.from(calls.querySelectorAll(".call")).find((c) => c.dataset.callId === callId);
    if (old) {
      carryInputs(old, card);
      old.replaceWith(card);
    } else {
      const empty = calls.querySelector(".empty");
      if (empty) { empty.remove(); }
      calls.prepend(card);
    }
  }

  function connect() {
    const source = new EventSource("/console/events");
    source.addEventListener("open", () => { status.textContent = status.dataset.connected; });
    source.addEventListener("error", () => { status.textContent = status.dataset.disconnected; });
    source.addEventListener("snapshot", (event) => {
      const data = JSON.parse(event.data);
      const typed = new Map(Array.from(calls.querySelectorAll(".call")).map((c) => [c.dataset.callId, c]));
      calls.replaceChildren();
      for (const item of data.calls) {
        const card = parseCard(item.html);
        if (!card) { continue; }
        if (typed.has(item.call_id)) { carryInputs(typed.get(item.call_id), card); }
        calls.append(card);
      }
      showEmpty();
    });
    source.addEventListener("call", (event) => {
      const data = JSON.parse(event.data);
      upsert(data.call_id, data.html);
    });
  }

  calls.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList.contains("feedback")) { return; }
    event.preventDefault();
    const body = new FormData(form);
    if (event.submitter && event.submitter.name) {
      body.set(event.submitter.name, event.submitter.value);
    }
    let text;
    let ok = false;
    try {
      // form.action would return the button named "action", so the attribute is read.
      const response = await fetch(form.getAttribute("action"), {
        method: "POST", body: new URLSearchParams(body),
        headers: { "Accept": "application/json" }, credentials: "same-origin",
      });
      const answer = await response.json();
      text = answer.message;
      ok = answer.ok;
    } catch (error) {
      text = String(error);
    }
    message.textContent = text;
    message.classList.toggle("error", !ok);
    if (ok) { form.reset(); }
  });

  connect();
})();
