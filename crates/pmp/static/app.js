// Progressive enhancement for the portal's server-rendered pages. Every page works without it;
// with it, the theme can be switched, destructive actions ask for confirmation, and jobs and
// guests update live.

const THEMES = ["system", "light", "dark"];
const COOKIE = "pmp_theme";

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  for (const label of document.querySelectorAll("[data-theme-label]")) {
    label.textContent = theme;
  }
}

function rememberTheme(theme) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  const age = theme === "system" ? 0 : 31536000;
  document.cookie = `${COOKIE}=${theme}; Path=/; Max-Age=${age}; SameSite=Lax${secure}`;
}

function setUpThemeToggle() {
  for (const button of document.querySelectorAll("[data-theme-toggle]")) {
    button.hidden = false;
    button.addEventListener("click", () => {
      const current = document.documentElement.dataset.theme || "system";
      const next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
      applyTheme(next);
      rememberTheme(next);
    });
  }
}

// A form or button with data-confirm="question" asks before it acts.
function setUpConfirmations() {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const question = event.submitter?.dataset.confirm || form.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
}

const BADGES = { succeeded: "badge-ok", failed: "badge-bad", dead: "badge-bad" };

// A job page with data-job-live follows the job through its event stream: the state badge
// and the log update without a reload; the stream ends when the job does.
function setUpLiveJobs() {
  for (const card of document.querySelectorAll("[data-job-live]")) {
    const state = card.querySelector("[data-job-state]");
    const log = card.querySelector("[data-job-log]");
    // Only lines after those the page already shows.
    const after = encodeURIComponent(card.dataset.logAfter || "0");
    const source = new EventSource(`${card.dataset.jobLive}?after=${after}`);
    source.addEventListener("log", (event) => {
      log.textContent += `${event.data}\n`;
    });
    const attempts = card.querySelector("[data-job-attempts]");
    source.addEventListener("state", (event) => {
      const job = JSON.parse(event.data);
      state.textContent = job.state;
      state.classList.remove("badge-ok", "badge-bad", "badge-warn");
      state.classList.add(BADGES[job.state] || "badge-warn");
      if (attempts) {
        attempts.textContent = `${job.attempts} of ${job.max_attempts}`;
      }
      if (["succeeded", "failed", "dead", "cancelled"].includes(job.state)) {
        source.close();
        card.querySelector("[data-job-cancel]")?.remove();
      }
    });
    source.addEventListener("error", () => source.close());
  }
}

// A guest list or page with data-guests-live follows the inventory's event stream: each
// guest's status badge and node change in place when Proxmox VE reports a change.
function setUpLiveGuests() {
  for (const card of document.querySelectorAll("[data-guests-live]")) {
    const source = new EventSource(card.dataset.guestsLive);
    source.addEventListener("guests", (event) => {
      for (const guest of JSON.parse(event.data)) {
        const key = `${guest.server}/${guest.vmid}`;
        for (const row of card.querySelectorAll(`[data-guest="${CSS.escape(key)}"]`)) {
          const badge = row.querySelector("[data-guest-status]");
          if (badge && badge.textContent !== guest.status) {
            badge.textContent = guest.status;
            badge.classList.toggle("badge-ok", guest.status === "running");
            badge.classList.toggle("badge-warn", guest.status !== "running");
          }
          const node = row.querySelector("[data-guest-node]");
          if (node) {
            node.textContent = guest.node;
          }
        }
      }
    });
  }
}

setUpThemeToggle();
setUpConfirmations();
setUpLiveJobs();
setUpLiveGuests();
