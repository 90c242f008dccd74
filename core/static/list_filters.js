// A list's filter form sends only what is set: "?q=bolt&level=low" rather than every empty
// box. Without JavaScript the form still works; its links are just longer.
document.querySelectorAll("form[data-list-filters]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      const field = form.elements.namedItem(name);
      const usual = field && field.dataset ? field.dataset.usual : undefined;
      if (value !== "" && value !== usual) params.append(name, value);
    }
    const query = params.toString();
    window.location.assign(form.action.split("?")[0] + (query ? "?" + query : ""));
  });
});
