// A plain notepad: what is typed stays on this phone. It makes no request and says nothing else.
const box = document.getElementById("note");
const KEY = "memo";
box.value = localStorage.getItem(KEY) || "";
box.addEventListener("input", () => localStorage.setItem(KEY, box.value));
