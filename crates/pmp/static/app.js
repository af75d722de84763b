// Progressive enhancement for the portal's server-rendered pages. Every page works without it;
// with it, the theme can be switched and destructive actions ask for confirmation.

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

setUpThemeToggle();
setUpConfirmations();
