// Korean and English, switchable, Korean first for Korean deployments. Apps register their own
// strings with addStrings(); elements with data-i18n="key" are translated by translatePage().

const strings = { ko: {}, en: {} };
const KEY = "vigil.language";
let current = localStorage.getItem(KEY) || document.documentElement.lang || "ko";

export function addStrings(lang, dict) {
  Object.assign(strings[lang], dict);
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  current = lang === "en" ? "en" : "ko";
  localStorage.setItem(KEY, current);
  document.documentElement.lang = current;
  translatePage();
  window.dispatchEvent(new CustomEvent("languagechange", { detail: current }));
}

// t("key", {n: 3}) -> the string in the current language with {n} filled in (the key if missing).
export function t(key, vars = {}) {
  const text = strings[current][key] ?? strings.ko[key] ?? strings.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
}

export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

// A KO | EN switch inside `element`.
export function languageSwitch(element) {
  element.innerHTML = "";
  for (const lang of ["ko", "en"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = lang.toUpperCase();
    button.className = "lang";
    button.setAttribute("aria-pressed", String(lang === current));
    button.addEventListener("click", () => setLanguage(lang));
    element.appendChild(button);
  }
  window.addEventListener("languagechange", () => {
    for (const b of element.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.textContent.toLowerCase() === current));
  });
}

export async function initLanguage(configured) {
  if (!localStorage.getItem(KEY) && configured) current = configured;
  document.documentElement.lang = current;
}
