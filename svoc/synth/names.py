"""Name data for the synthetic population: first names by group, sex and era, surnames by group,
diminutives, transliteration variants and similar-name pairs.

All names are ordered most popular first; the population draws them with Zipf-like weights.
Lists are whitespace-separated strings (a name never contains a space; hyphens are allowed).
"""

from __future__ import annotations

# --- first names: British, by birth era (2006-2012, 2013-2019, 2020-2026) --------------------
_BRIT_M = {
    "early": """Jack Oliver Thomas Harry Joshua Alfie Charlie Daniel James William Samuel George Joseph
        Lewis Ethan Dylan Benjamin Alexander Jacob Ryan Liam Jake Max Matthew Callum Luke Adam Tyler
        Nathan Henry Owen Kyle Cameron Harvey Connor Reece Jayden Kieran Lucas Bradley Archie Isaac Leo
        Finley Aaron Charles Michael Logan Louis Riley Toby Jamie Edward Kai Alex Brandon Ben Oscar
        Freddie Sam Mason Rhys Joe Theo Noah Harrison Bailey Aiden Corey Jordan Jenson Billy Elliot Leon
        Morgan Declan Ellis Sonny Frankie Tommy Ollie Alfred Stanley Zachary Evan Hayden Caleb Ruben
        Jaden Louie Sebastian Dominic Josh Robert Andrew Christopher Patrick Scott Shane Bobby Harley
        Brooklyn Cole Taylor Kacper Mitchell Spencer Stephen Marcus""",
    "mid": """Oliver Harry George Jack Jacob Noah Charlie Thomas Oscar William James Leo Alfie Henry Joshua
        Freddie Archie Ethan Isaac Alexander Joseph Edward Samuel Max Logan Lucas Daniel Theo Arthur
        Harrison Benjamin Mason Finley Sebastian Adam Dylan Zachary Riley Teddy Theodore David Toby Jake
        Louie Elijah Reggie Jenson Hugo Jaxon Albert Frankie Reuben Ronnie Tommy Stanley Rory Bobby
        Elliot Arlo Rowan Luca Caleb Jude Hunter Albie Louis Carter Ezra Ralph Leon Tobias Grayson Kai
        Jayden Roman Austin Blake Felix Chester Sonny Oakley Frederick Ellis Harley Dexter Jesse Harvey""",
    "late": """Noah Oliver George Leo Arthur Oscar Theodore Freddie Theo Archie Henry Luca Alfie Jack
        Finley Charlie Thomas Isaac Albie Teddy Jude Tommy Reggie Arlo Lucas Hudson Roman Elijah Ezra
        Rory Hugo Ronnie Jacob Harry Max Mason William Alexander Edward Otis Louie Jaxon Milo Rowan Sonny
        Ralph Albert Joshua Carter Grayson Harrison Jesse Brody Bodhi Hunter Ellis Oakley Frankie Stanley
        Eli Chester Ted Jasper Louis Caleb Felix Rafael Kit Alfred Ollie Frederick Otto Eddie Rupert
        Ezekiel Nico Jenson Enzo Kobe Mateo Harvey Reuben Ezra Ronan Myles Alby""",
}
_BRIT_F = {
    "early": """Olivia Ruby Emily Grace Jessica Chloe Sophie Lily Amelia Evie Mia Ella Katie Ellie Charlotte
        Isabella Hannah Lucy Megan Holly Isabelle Daisy Freya Abigail Millie Molly Lauren Erin Phoebe Amy
        Emma Eva Poppy Sophia Leah Caitlin Georgia Bethany Lilly Madison Keira Isla Scarlett Summer Paige
        Jasmine Brooke Rebecca Anna Rachel Courtney Shannon Alice Eleanor Rosie Maisie Zoe Layla
        Ellie-May Imogen Tia Jade Amber Hollie Lexi Nicole Demi Tegan Elizabeth Kayla Abbie Libby Sienna
        Gracie Harriet Kacey Kayleigh Francesca Sarah Laura Victoria Jodie Aimee Zoë Chloë Renée Olive""",
    "mid": """Olivia Amelia Isla Ava Emily Isabella Mia Poppy Ella Lily Sophia Grace Evie Sophie Ruby Jessica
        Charlotte Freya Daisy Alice Sienna Florence Millie Evelyn Phoebe Scarlett Matilda Isabelle Harper
        Willow Rosie Elsie Ivy Layla Esme Erin Eliza Maya Lucy Eva Imogen Molly Orla Zara Chloe Ellie Holly
        Lola Emilia Thea Bella Maisie Darcie Violet Aria Amber Hannah Elizabeth Eleanor Lilly Harriet
        Lexi Lottie Bonnie Georgia Penelope Nancy Hallie Aurora Annabelle Robyn Mila Clara Edith Gracie
        Megan Darcey Lydia Sofia Hollie Eden Zoë Amelie""",
    "late": """Olivia Amelia Isla Lily Ava Freya Ivy Florence Willow Isabella Mia Evie Elsie Sophia Grace
        Margot Sienna Ella Rosie Poppy Evelyn Hallie Aurora Isabelle Emilia Daisy Luna Maya Millie Maeve
        Delilah Esme Phoebe Harper Mabel Alice Bonnie Matilda Orla Thea Violet Ada Arabella Sophie Nancy
        Charlotte Ruby Emily Mila Eliza Lottie Iris Ellie Olive Layla Maisie Penelope Myla Lyla Amelie
        Darcie Hazel Georgia Edith Lucy Nova Ayla Eden Rose Aria Zara Jessica Elodie Harriet Lilah Bella
        Lola Ottilie Wren Zoë Lila""",
}

# --- first names: other groups (not era dependent) ------------------------------------------
_GROUP_M = {
    "irish": """Seán Conor Cian Oisín Ciarán Darragh Fionn Cillian Pádraig Liam Rían Tadhg Eoin Ronan Declan
        Niall Cathal Shane Aidan Dara Patrick Michael""",
    "east_eu": """Jakub Kacper Szymon Filip Mateusz Łukasz Wojciech Bartosz Michał Kamil Oliwer Antoni
        Stanisław Adrian Dawid Piotr Tomasz Krzysztof Paweł Jan Andrei Alexandru Ștefan Mihai Ionuț David
        Darius Luca Matei Vlad Lukas Matas Dominykas Nojus Jokūbas Tomáš Matěj Mykola Oleksandr Artem Maksym""",
    "sa_muslim": """Muhammad Mohammed Ibrahim Yusuf Ali Zayn Adam Hamza Ayaan Musa Umar Abdullah Zakariya
        Haris Rayyan Idris Bilal Hassan Hussain Ismail Aariz Daniyal Faris Imran Sami Zain Arham Ahmed Ehsan
        Rehan Saif Shayan Tahir Usman Yahya Zubair Abdul Rahim Mohammad Ayan Sulaiman""",
    "indian": """Arjun Aarav Rohan Krish Dev Ishaan Aryan Vihaan Karan Jai Rahul Nikhil Aditya Harjot
        Gurpreet Manveer Arun Sai Vikram Anish Tejas Veer Kabir Ravi Sanjay Reyansh Shiv Armaan Jasveer
        Arav Neel""",
    "african": """David Daniel Samuel Emmanuel Joshua Tobi Tobenna Chidi Chinedu Oluwaseun Olamide Ayodele
        Kwame Kofi Kwabena Tendai Tinashe Femi Tunde Ifeanyi Obinna Nathaniel Elijah Michael Mohamed Abdi
        Abdirahman Liban Bashir Jayden Ethan Israel Divine Marvellous Kayode""",
    "caribbean": """Tyrese Jermaine Marcus Kemar Andre Tyrone Rashad Malachi Isaiah Jaheim Kai Micah Josiah
        Devon Kareem Troy Darnell Dwayne Leon Jayden Elijah Joshua Nathaniel Reuben""",
    "chinese": """Ethan Jayden Ryan Kevin Jason Eric Alvin Marcus Henry Wei Jun Hao Ming Kai Jian Zihan
        Yuxuan Haoran Zixuan Yichen Junhao Jiahao Lok Chun Wing""",
    "arab": """Omar Ahmad Khalid Youssef Karim Tariq Mahmoud Mustafa Nasser Ziad Rami Faisal Hamza Yousef
        Abdulrahman Anas Amir Jamal Salim Samir Adam Ali""",
}
_GROUP_F = {
    "irish": """Aoife Saoirse Niamh Róisín Ciara Caoimhe Siobhán Orla Clodagh Aisling Éabha Sinéad Fiadh
        Gráinne Erin Maeve Nuala Eimear Ailbhe Sorcha Mary""",
    "east_eu": """Zuzanna Julia Zofia Hanna Maja Lena Alicja Amelia Oliwia Wiktoria Natalia Aleksandra
        Magdalena Gabriela Małgorzata Kinga Martyna Weronika Agnieszka Ioana Maria Andreea Elena Bianca
        Alexandra Sofia Ana Darya Emilija Gabija Ugnė Kamilė Viktorija Anastasia Daria Sofiia Polina Zoë""",
    "sa_muslim": """Maryam Aisha Fatima Zainab Hafsa Inaaya Hania Khadija Safa Sumaya Amira Aleena Anaya Eman
        Hiba Iqra Laiba Mariam Noor Ayesha Aiza Alishba Manahil Mehwish Nusrat Rabia Rimsha Sana Sara Tahmina
        Yasmin Zara Zoya Halima Jannat Ruqayyah Samira Sadia Nadia Hajra""",
    "indian": """Priya Anaya Diya Kiran Simran Aanya Ananya Saanvi Navya Isha Meera Riya Jasleen Harleen Amrit
        Manpreet Nisha Pooja Shreya Tanvi Kavya Neha Anika Divya Aarya Prisha Myra Avani Ishani Jasmeet""",
    "african": """Blessing Precious Esther Favour Grace Mercy Faith Deborah Chiamaka Adaeze Ngozi Amara
        Chioma Abena Akosua Adwoa Tiwalade Oluwatosin Ayomide Folake Temitope Nia Zuri Ruth Hodan Ayan Fadumo
        Hawa Nimo Sagal Halima Rahma Miracle Princess""",
    "caribbean": """Shanice Kiana Tiana Aaliyah Chantelle Jada Keisha Shantelle Imani Nia Maya Tanisha Latoya
        Jasmine Destiny Naomi Trinity Kayla Ebony Serena Amani""",
    "chinese": """Chloe Grace Emily Jessica Vivian Cindy Wendy Annie Joyce Sophia Michelle Mei Xin Yan Ling Hui
        Jing Lin Ying Xiaoyu Yuxi Zixuan Yutong Jiayi Ruoxi Shiyu""",
    "arab": """Layla Noor Yasmin Rania Salma Nour Farah Lina Dana Malak Jana Mariam Hala Rana Sara Leen Reem
        Huda Amal Maryam""",
}

# --- surnames -------------------------------------------------------------------------------------
_SURNAMES = {
    "british": """Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
        Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Jackson Wood Turner
        Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips
        Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey
        Collins Bell Shaw Murphy Miller Cox Richards Marshall Anderson Simpson Ellis Adams Wilkinson Foster
        Chapman Powell Webb Rogers Gray Mason Hunt Campbell Matthews Owen Palmer Holmes Mills Barnes Knight
        Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Fletcher Walsh
        Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West
        Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan
        Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe
        Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton
        Oliver Reed Kennedy Williamson Bird Gardner Dean Lane Cooke Bates Henderson Parry Burgess Bishop
        Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton
        McDonald Yates Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers
        O'Neill Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace George Jordan
        Hutchinson Rowe Burke May Pritchard Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond
        Arnold Buckley Walters Hewitt Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert
        Stephens Blake Lynch Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter Clayton Nash
        Greenwood Jennings Holt Kemp Poole Gallagher Bond Stokes Tucker Davidson Fowler Heath Norman
        Middleton Lawson Banks French Stanley Jarvis Gibbs Ferguson Hayward Carroll Douglas Dickinson Todd
        Barlow Peters Lucas Knowles Hartley Simmons Morton Alexander Field Morley Lord Sheppard Ashworth Sykes
        Pickering Whitaker O'Sullivan D'Arcy Brannigan Dobson Firth Haigh Illingworth Wainwright""",
    "irish": """Murphy Kelly O'Sullivan Walsh O'Brien Byrne Ryan O'Connor O'Neill O'Reilly Doyle McCarthy
        Gallagher Doherty Kennedy Lynch Murray Quinn Moore McLoughlin Connolly Daly Brennan Burke Collins
        Farrell Fitzgerald Maguire Nolan Flynn Callaghan O'Donnell Duffy Boyle Healy Sweeney Kavanagh Power
        McGrath Moran Brady Casey Foley Fitzpatrick O'Leary Donnelly Regan Donovan Flanagan Barry Kane
        Sheehan Whelan Cullen Keane Maher McKenna Hogan O'Keeffe McNamara O'Rourke""",
    "east_eu": """Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak
        Dąbrowski Kozłowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski Nowakowski Pawłowski
        Michalski Nowicki Adamczyk Dudek Zając Wieczorek Jabłoński Król Majewski Olszewski Popescu Ionescu
        Popa Pop Radu Dumitru Stan Stoica Gheorghe Matei Ciobanu Rusu Kazlauskas Jankauskas Petrauskas
        Stankevičius Vasiliauskas Žukauskas Butkus Novák Svoboda Dvořák Horváth Kovács Tóth Szabó Ivanov
        Petrov Kovalenko Shevchenko Bondarenko Melnyk Balogh Łuczak Ślusarczyk""",
    "sa_muslim": """Khan Ali Hussain Ahmed Begum Akhtar Shah Iqbal Rahman Mahmood Aslam Bibi Malik Butt Mirza
        Chaudhry Choudhury Miah Uddin Islam Hossain Rashid Karim Javed Anwar Riaz Raza Siddiqui Qureshi
        Sheikh Haq Nawaz Sultana Akram Hussein Yousaf Zaman Ashraf Latif Saleem Hanif Ahmad Mohammed""",
    "indian": """Patel Singh Kaur Sharma Kumar Gill Sandhu Sidhu Dhillon Bains Kang Mistry Parmar Shah Mehta
        Joshi Desai Chauhan Gupta Verma Rai Sahota Lal Bhatt Thakkar Chopra Kapoor Grewal Johal Virdi Pandya
        Modi Solanki Dhaliwal""",
    "african": """Okafor Okonkwo Adeyemi Adebayo Ogunleye Oladipo Afolabi Eze Nwosu Obi Chukwu Mensah Boateng
        Asante Owusu Osei Appiah Agyeman Mwangi Otieno Kamau Moyo Ncube Dube Sibanda Mohamed Abdi Hassan Ali
        Farah Warsame Ahmed Yusuf Ibrahim Diallo Kone Traore Bello Musa Okoro Nwachukwu Adeleke Akinola
        Babatunde Ogunbiyi Olatunji Afolayan""",
    "caribbean": """Campbell Brown Williams Thomas Johnson Francis Clarke Gordon Grant Henry Lewis Reid
        Robinson Bennett Edwards Morgan Daley Forbes Powell Stewart Samuels McKenzie Wright Walker James
        Green Allen Hamilton Ricketts Gayle Blake Bailey Mitchell Anderson Richards Palmer Hinds Beckford""",
    "chinese": """Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo Gao Cheng
        Wong Chan Leung Lam Cheung Ng Ho Lau Tang Yip""",
    "arab": """Al-Sayed Hassan Hussein Mahmoud Abdullah Ibrahim Mansour Haddad Khalil Saleh Nasser Youssef
        Abbas Farouk Hamdan Al-Masri Al-Rashid Aziz Darwish Qasim Salem Othman Suleiman Jaber""",
}

# --- variants ------------------------------------------------------------------------------------
# formal name -> diminutives / short forms used as "known as" names, most usual first
NICKNAMES_RAW = """Alfred:Alfie,Alf Oliver:Ollie,Olly Isabella:Izzy,Bella,Issy Isabelle:Izzy,Belle
Muhammad:Mo Mohammed:Mo Mohammad:Mo Alexander:Alex,Xander Alexandra:Alex,Lexi,Sasha Charles:Charlie
Charlotte:Lottie,Charlie Frederick:Freddie,Fred,Freddy Henry:Harry,Hal Harrison:Harry Thomas:Tom,Tommy
William:Will,Billy,Liam James:Jamie,Jim Joseph:Joe,Joey Joshua:Josh Daniel:Dan,Danny Samuel:Sam,Sammy
Benjamin:Ben,Benji Matthew:Matt Nathaniel:Nate,Nat Nathan:Nate Edward:Ed,Eddie,Ted Theodore:Theo,Teddy,Ted
Jacob:Jake Michael:Mikey,Mike Christopher:Chris Robert:Rob,Bobby,Robbie Zachary:Zach,Zac Stanley:Stan
Albert:Albie,Bertie Louis:Louie Sebastian:Seb Dominic:Dom Elizabeth:Lizzie,Beth,Eliza,Libby
Eleanor:Ellie,Nell Amelia:Millie,Mia Emily:Em,Emmy Abigail:Abbie,Abby Victoria:Tori,Vicky
Jessica:Jess,Jessie Rebecca:Becky,Becca Olivia:Liv,Livvy Sophia:Sophie Penelope:Penny Matilda:Tilly,Tilda
Florence:Flo,Florrie Harriet:Hattie Annabelle:Annie,Bella Evelyn:Evie Madison:Maddie Imogen:Immy
Georgia:Georgie Francesca:Frankie Nicole:Nicky Natalia:Nat Aleksandra:Ola Małgorzata:Gosia Jakub:Kuba
Wojciech:Wojtek Zuzanna:Zuzia Abdullah:Abdul Abdirahman:Abdi Oluwaseun:Seun Oluwatosin:Tosin
Ayodele:Ayo Temitope:Tope Tobenna:Tobi Chinedu:Nedu Reuben:Reu Gabriela:Gabi Catherine:Kate,Katie
Arabella:Bella Ezekiel:Zeke Tobias:Toby Archibald:Archie Ronald:Ronnie Reginald:Reggie Frances:Frankie
Kacper:Casper Oleksandr:Sasha Anastasia:Ana Katherine:Kate,Katie Benedict:Ben"""

# groups of spellings of the same name (transliteration, accents, common alternative spellings)
VARIANT_GROUPS_RAW = """Mohammed,Muhammad,Mohamed,Mohammad,Muhammed Yusuf,Yousef,Youssef,Yusef Aisha,Ayesha,Aysha
Fatima,Fatimah Hussain,Hussein,Husain Ahmed,Ahmad Mariam,Maryam Zainab,Zaynab Ibrahim,Ebrahim
Hamza,Hamzah Zayn,Zain,Zane Khadija,Khadijah Sumaya,Sumayyah Hafsa,Hafsah Ismail,Ismael Idris,Idrees
Abdirahman,Abdurahman Noor,Nour Layla,Leila,Laila Yasmin,Yasmine Rayyan,Rayan Zakariya,Zakaria
Ayaan,Ayan Musa,Moosa Łukasz,Lukasz Michał,Michal Stanisław,Stanislaw Wiktoria,Viktoria Ștefan,Stefan
Ionuț,Ionut Jokūbas,Jokubas Zoë,Zoe Chloë,Chloe Seán,Sean,Shaun Róisín,Roisin Siobhán,Siobhan
Pádraig,Padraig Ciarán,Ciaran,Kieran Oisín,Oisin Éabha,Eabha Sinéad,Sinead Gráinne,Grainne
Jayden,Jaden,Jaiden,Jaydon Aiden,Aidan,Ayden Kacey,Casey Sophia,Sofia Lily,Lilly,Lillie Evie,Evey
Lexi,Lexie Gracie,Gracey Darcie,Darcy,Darcey Ellie,Elly Hollie,Holly Louie,Louis Freddie,Freddy
Alfie,Alfy Jaxon,Jackson Luca,Luka Reece,Rhys Phoebe,Pheobe Caitlin,Katelyn,Kaitlyn Renée,Renee
Rían,Rian Ugnė,Ugne Kamilė,Kamile Tomáš,Tomas Matěj,Matej Mila,Milla Isla,Islay Amelie,Amélie
Nathaniel,Nathanael Elliot,Elliott Matilda,Mathilda Harley,Harlee Kayla,Kaila Amira,Ameera"""

# similar names given to siblings or co-twins
SIMILAR_RAW = """Olivia/Olive Jayden/Jaden Amelia/Amelie Harry/Harvey Ella/Ellie Isla/Isabella Leo/Leon
Louis/Louie Lily/Lila Mia/Maya Evie/Eva Alfie/Archie Ruby/Rosie Freddie/Frankie Oscar/Otis Ethan/Evan
Sophie/Sophia Jack/Jake Dylan/Declan Hassan/Hussain Aisha/Amina Zara/Zainab Layla/Lyla Mason/Max
Tyler/Tyrese Liam/Logan Noah/Nico Grace/Gracie Millie/Mollie Amber/Ava Hannah/Hania Kai/Kian Maryam/Mariam
Jakub/Julia Lena/Luna Niamh/Nuala Cian/Conor Kyle/Kai Emily/Emilia Isaac/Ishaan Ava/Ayla Adam/Ayaan"""


def _split(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for tok in text.split():
        seen.setdefault(tok, None)
    return list(seen)


def first_name_pools() -> dict[tuple[str, str, str], list[str]]:
    """(group, sex, era) -> names, most popular first. Non-British groups are the same in every era."""
    pools: dict[tuple[str, str, str], list[str]] = {}
    for era in ("early", "mid", "late"):
        pools[("british", "M", era)] = _split(_BRIT_M[era])
        pools[("british", "F", era)] = _split(_BRIT_F[era])
        for group, text in _GROUP_M.items():
            pools[(group, "M", era)] = _split(text)
        for group, text in _GROUP_F.items():
            pools[(group, "F", era)] = _split(text)
    return pools


def surname_pools() -> dict[str, list[str]]:
    return {g: _split(t) for g, t in _SURNAMES.items()}


def nicknames() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in NICKNAMES_RAW.split():
        formal, short = item.split(":")
        out[formal] = short.split(",")
    return out


def variant_groups() -> dict[str, list[str]]:
    """name -> the other spellings in its group."""
    out: dict[str, list[str]] = {}
    for item in VARIANT_GROUPS_RAW.split():
        names = item.split(",")
        for n in names:
            out[n] = [m for m in names if m != n]
    return out


def similar_names() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in SIMILAR_RAW.split():
        a, b = item.split("/")
        out.setdefault(a, []).append(b)
        out.setdefault(b, []).append(a)
    return out
