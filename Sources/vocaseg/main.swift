print("vocaseg")
