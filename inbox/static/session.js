// A session's conversation page, live: the feed (server-sent events from /feed/ID) appends new
// transcript entries, shows the reply while it is written, and swaps the approval section when the
// pending action changes; the message form posts without leaving the page. Every piece of HTML
// inserted here was rendered (and escaped) by the server's templates; text from the feed goes in as
// text. Without this script the page works as plain forms.
"use strict";

(function () {
  const page = document.getElementById("session");
  if (!page) return;
  const transcript = document.getElementById("transcript");
  const live = document.getElementById("live-reply");
  const liveText = live.querySelector(".text");
  const approvalSlot = document.getElementById("approval-slot");
  const phase = document.querySelector("[data-testid=phase]");
  const turn = document.querySelector("[data-testid=turn]");
  const status = document.querySelector("[data-testid=execution-status]");
  const form = document.getElementById("message-form");
  const feedback = document.getElementById("send-feedback");
  let writing = { step: null, attempt: 0 };

  function clearLiveReply() {
    writing = { step: null, attempt: 0 };
    liveText.textContent = "";
    live.hidden = true;
  }

  function showFeedback(ok, text) {
    feedback.textContent = text;
    feedback.className = "flash " + (ok ? "good" : "bad");
    feedback.hidden = false;
  }

  const feed = new EventSource(
    page.dataset.feed + "?after=" + encodeURIComponent(page.dataset.after) +
      "&offset=" + encodeURIComponent(page.dataset.offset)
  );

  feed.addEventListener("entries", function (event) {
    const data = JSON.parse(event.data);
    const incoming = document.createElement("template");
    incoming.innerHTML = data.html;
    for (const item of Array.from(incoming.content.querySelectorAll("li[data-entry-id]"))) {
      // An entry shown already comes again when it changed (its turn's outcome): replace it.
      const shown = transcript.querySelector('li[data-entry-id="' + item.dataset.entryId + '"]');
      if (shown) shown.replaceWith(item);
      else transcript.appendChild(item);
    }
    if (/data-role="assistant"/.test(data.html)) clearLiveReply(); // the reply is in the transcript now
  });

  feed.addEventListener("reply", function (event) {
    const chunk = JSON.parse(event.data);
    if (chunk.step !== writing.step || chunk.attempt !== writing.attempt) {
      writing = { step: chunk.step, attempt: chunk.attempt }; // a new step, or a retry: start again
      liveText.textContent = "";
    }
    liveText.textContent += chunk.text;
    live.hidden = false;
  });

  feed.addEventListener("status", function (event) {
    const data = JSON.parse(event.data);
    phase.textContent = data.phase;
    turn.textContent = String(data.turn);
    if (data.phase !== "thinking") clearLiveReply();
    // Only a different action replaces the section (a comment being typed survives a reconnect).
    const current = approvalSlot.querySelector("[data-action-hash]");
    const incoming = new DOMParser().parseFromString(data.approval_html, "text/html");
    const next = incoming.querySelector("[data-action-hash]");
    if (!current || !next || current.dataset.actionHash !== next.dataset.actionHash) {
      approvalSlot.replaceChildren(...incoming.body.childNodes);
    }
  });

  feed.addEventListener("ended", function () {
    feed.close();
    clearLiveReply();
    status.textContent = "Ended";
    showFeedback(false, "The session has ended; reload the page to see its final state.");
  });

  feed.addEventListener("signed_out", function () {
    feed.close();
    showFeedback(false, "You are signed out; sign in again to follow this session.");
  });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { accept: "application/json" },
        credentials: "same-origin",
      });
      const type = response.headers.get("content-type") || "";
      if (!type.startsWith("application/json")) {
        showFeedback(false, "Refused (HTTP " + response.status + "); reload the page and try again.");
        return;
      }
      const outcome = await response.json();
      showFeedback(outcome.ok, outcome.text);
      form.elements.form_id.value = outcome.form_id; // the next message is a new one
      if (outcome.ok) form.elements.text.value = ""; // it shows in the transcript through the feed
    } catch (error) {
      showFeedback(false, "Not sent: " + error);
    } finally {
      button.disabled = false;
    }
  });
})();
